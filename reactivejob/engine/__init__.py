"""I/O: the clients, the watch-fed caches, the work queue, the executor that carries out the
core's Plans, Events and the leader elector, wired by the manager. Never imports serve/."""
