"""A real node beside the control plane: containerd, runc, kubelet, kube-scheduler, kube-proxy,
a bridge pod network, and images from OCI archives (no registry, no Docker engine)."""
