"""reactivejob-operator: re-runs a Job whenever its ReactiveJob's template changes."""
