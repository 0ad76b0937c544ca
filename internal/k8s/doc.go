// Package k8s is Granary's edge to Kubernetes, and with its subpackages the
// only code that imports client-go or controller-runtime (internal/archtest
// keeps k8s.io out of the pure core). It holds what every Kubernetes piece
// shares: connecting to the API server (kubeconfig or in-cluster), and the
// mapping from vendor device-plugin resource names and node labels to
// catalog chips. Subpackages: nodesync keeps the ledger in step with the
// cluster's nodes; binder is the control.Backend that turns placements into
// pod bindings; k8stest starts a real API server for tests.
package k8s
