"""Sample ReactiveJobs shared by unit and integration tests."""

from __future__ import annotations

import copy
from typing import Any

API_VERSION = "batch.cs.sap.com/v1alpha1"


def simple_template(**annotations: str) -> dict[str, Any]:
    return {
        "metadata": {"annotations": dict(annotations)} if annotations else {},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "run", "image": "alpine", "command": ["true"]}],
                }
            }
        },
    }


def rich_template() -> dict[str, Any]:
    """Init containers, env from secrets, quantities, int-or-string probe ports, volumes,
    affinity, tolerations: the shapes most likely to be pruned or mangled."""
    return copy.deepcopy(
        {
            "metadata": {
                "labels": {"app.kubernetes.io/name": "migrate", "tier": "batch"},
                "annotations": {"example.com/owner": "team-ä", "example.com/empty": ""},
            },
            "spec": {
                "backoffLimit": 2,
                "ttlSecondsAfterFinished": 3600,
                "activeDeadlineSeconds": 600,
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/name": "migrate"}},
                    "spec": {
                        "restartPolicy": "OnFailure",
                        "serviceAccountName": "migrator",
                        "initContainers": [
                            {
                                "name": "wait",
                                "image": "busybox:1.36",
                                "command": ["sh", "-c", "until nslookup db; do sleep 1; done"],
                                "resources": {"limits": {"cpu": "100m", "memory": "32Mi"}},
                            }
                        ],
                        "containers": [
                            {
                                "name": "migrate",
                                "image": "registry.example.com/migrate:1.2.3",
                                "args": ["--all"],
                                "env": [
                                    {"name": "PLAIN", "value": "1"},
                                    {
                                        "name": "PASSWORD",
                                        "valueFrom": {
                                            "secretKeyRef": {"name": "db", "key": "password"}
                                        },
                                    },
                                    {
                                        "name": "POD",
                                        "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                                    },
                                ],
                                "envFrom": [{"secretRef": {"name": "db-env"}, "prefix": "DB_"}],
                                "ports": [
                                    {"containerPort": 8080, "name": "http", "protocol": "TCP"}
                                ],
                                "resources": {
                                    "requests": {
                                        "cpu": 1,
                                        "memory": "128Mi",
                                        "ephemeral-storage": "1Gi",
                                    },
                                    "limits": {"cpu": "1500m", "memory": "256Mi"},
                                },
                                "livenessProbe": {
                                    "httpGet": {"path": "/healthz", "port": "http"},
                                    "periodSeconds": 5,
                                },
                                "readinessProbe": {"tcpSocket": {"port": 8080}},
                                "volumeMounts": [
                                    {
                                        "name": "config",
                                        "mountPath": "/etc/migrate",
                                        "readOnly": True,
                                    },
                                    {"name": "scratch", "mountPath": "/tmp"},
                                ],
                                "securityContext": {
                                    "runAsNonRoot": True,
                                    "runAsUser": 65532,
                                    "allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]},
                                    "seccompProfile": {"type": "RuntimeDefault"},
                                },
                            }
                        ],
                        "volumes": [
                            {
                                "name": "config",
                                "configMap": {"name": "migrate", "defaultMode": 420},
                            },
                            {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
                            {
                                "name": "data",
                                "ephemeral": {
                                    "volumeClaimTemplate": {
                                        "metadata": {"labels": {"kind": "scratch"}},
                                        "spec": {
                                            "accessModes": ["ReadWriteOnce"],
                                            "resources": {"requests": {"storage": "5Gi"}},
                                        },
                                    }
                                },
                            },
                        ],
                        "affinity": {
                            "nodeAffinity": {
                                "requiredDuringSchedulingIgnoredDuringExecution": {
                                    "nodeSelectorTerms": [
                                        {
                                            "matchExpressions": [
                                                {
                                                    "key": "kubernetes.io/arch",
                                                    "operator": "In",
                                                    "values": ["amd64"],
                                                }
                                            ]
                                        }
                                    ]
                                }
                            },
                            "podAntiAffinity": {
                                "preferredDuringSchedulingIgnoredDuringExecution": [
                                    {
                                        "weight": 50,
                                        "podAffinityTerm": {
                                            "topologyKey": "kubernetes.io/hostname",
                                            "labelSelector": {
                                                "matchLabels": {"app.kubernetes.io/name": "migrate"}
                                            },
                                        },
                                    }
                                ]
                            },
                        },
                        "tolerations": [
                            {
                                "key": "dedicated",
                                "operator": "Equal",
                                "value": "batch",
                                "effect": "NoSchedule",
                            },
                            {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30},
                        ],
                        "nodeSelector": {"kubernetes.io/os": "linux"},
                    },
                },
            },
        }
    )


def reactive_job(
    name: str, template: dict[str, Any], namespace: str | None = None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": API_VERSION,
        "kind": "ReactiveJob",
        "metadata": metadata,
        "spec": {"jobTemplate": template},
    }
