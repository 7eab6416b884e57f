package v1alpha1

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Doc comments below become CRD descriptions. They must say exactly what the
// descriptions in schema/reactivejob.yaml say (the CRD equivalence test compares them).

// ReactiveJobSpec defines the desired state of ReactiveJob.
type ReactiveJobSpec struct {
	// Specifies the job that will be created when executing.
	JobTemplate batchv1.JobTemplateSpec `json:"jobTemplate"`
}

// ReactiveJobStatus defines the observed state of ReactiveJob.
type ReactiveJobStatus struct {
	// Observed generation.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// List of status conditions to indicate the status of a ReactiveJob.
	// +optional
	Conditions []ReactiveJobCondition `json:"conditions,omitempty"`

	// Readable form of the state.
	// +optional
	State ReactiveJobState `json:"state,omitempty"`

	// Name of current job; that is, the name of the last job that was created for this ReactiveJob.
	// +optional
	CurrentJobName string `json:"currentJobName,omitempty"`
}

// ReactiveJobCondition contains details for the current condition of this ReactiveJob.
type ReactiveJobCondition struct {
	// Type of the condition; Ready is the one this operator sets.
	Type ReactiveJobConditionType `json:"type"`

	// Status of the condition, one of True, False, Unknown.
	Status corev1.ConditionStatus `json:"status"`

	// Timestamp for when the condition was last updated.
	// +optional
	LastUpdateTime *metav1.Time `json:"lastUpdateTime,omitempty"`

	// Timestamp for when the condition last transitioned from one status to another.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`

	// One-word CamelCase reason for the condition's last transition.
	// +optional
	Reason string `json:"reason,omitempty"`

	// Human-readable message indicating details about the last transition.
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

// ReactiveJob is the Schema for the reactivejobs API.
type ReactiveJob struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ReactiveJobSpec `json:"spec,omitempty"`

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
