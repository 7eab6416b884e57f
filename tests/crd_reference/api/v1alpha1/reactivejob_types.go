package v1alpha1

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Doc comments below become CRD descriptions. Keep them to one line each and
// keep README.md in sync: the Python CRD generator copies these strings.

// ReactiveJobSpec is the desired state of a ReactiveJob.
type ReactiveJobSpec struct {
	// Template of the Job that is created whenever this template changes.
	JobTemplate batchv1.JobTemplateSpec `json:"jobTemplate"`
}

// ReactiveJobStatus is the observed state of a ReactiveJob.
type ReactiveJobStatus struct {
	// Generation of the ReactiveJob that was last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions of the ReactiveJob.
	// +optional
	Conditions []ReactiveJobCondition `json:"conditions,omitempty"`

	// Current state of the ReactiveJob.
	// +optional
	State ReactiveJobState `json:"state,omitempty"`

	// Name of the most recently created Job.
	// +optional
	CurrentJobName string `json:"currentJobName,omitempty"`
}

// ReactiveJobCondition is one condition of a ReactiveJob.
type ReactiveJobCondition struct {
	// Condition type.
	Type ReactiveJobConditionType `json:"type"`

	// Condition status: True, False or Unknown.
	Status corev1.ConditionStatus `json:"status"`

	// Time the condition was last written.
	// +optional
	LastUpdateTime *metav1.Time `json:"lastUpdateTime,omitempty"`

	// Time the condition status last changed.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`

	// Machine-readable reason for the last transition.
	// +optional
	Reason string `json:"reason,omitempty"`

	// Human-readable details about the last transition.
	// +optional
	Message string `json:"message,omitempty"`
}

// ReactiveJobConditionType is the type of a ReactiveJob condition.
type ReactiveJobConditionType string

// ReactiveJobState is the state of a ReactiveJob.
// +kubebuilder:validation:Enum=New;Processing;DeletionBlocked;Deleting;Ready;Error
type ReactiveJobState string

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"

// ReactiveJob runs a Job and creates a new one whenever its job template changes.
type ReactiveJob struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Desired state of the ReactiveJob.
	Spec ReactiveJobSpec `json:"spec,omitempty"`

	// Observed state of the ReactiveJob.
	// +kubebuilder:default={"observedGeneration":-1}
	Status ReactiveJobStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ReactiveJobList is a list of ReactiveJobs.
type ReactiveJobList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ReactiveJob `json:"items"`
}
