// Package v1alpha1 holds a minimal Go rendering of the ReactiveJob API
// (batch.cs.sap.com/v1alpha1). It exists only so that controller-gen can emit
// the reference CRD; nothing imports it.
//
// +groupName=batch.cs.sap.com
package v1alpha1
