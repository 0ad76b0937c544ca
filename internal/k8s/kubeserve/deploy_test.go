package kubeserve_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/granaryhq/granary/internal/k8s/k8stest"
)

// manifests reads every object of deploy/kubernetes/*.yaml.
func manifests(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "deploy", "kubernetes")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", dir, err)
	}
	var out []*unstructured.Unstructured
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var m map[string]any
			if err := dec.Decode(&m); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(m) == 0 {
				continue
			}
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
	// Namespaces first, as kubectl apply does.
	slices.SortStableFunc(out, func(a, b *unstructured.Unstructured) int {
		return boolInt(b.GetKind() == "Namespace") - boolInt(a.GetKind() == "Namespace")
	})
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestDeployManifestsApply applies deploy/kubernetes server-side to a real
// API server (so they are valid objects of this Kubernetes version), then
// checks the service account's RBAC allows every call `serve --kube` makes
// and nothing beyond them that matters.
// apply applies every manifest server-side and returns the kinds applied.
func apply(t *testing.T, env *k8stest.Env) (map[string]bool, dynamic.Interface) {
	t.Helper()
	ctx := context.Background()
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, o := range manifests(t) {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s %s: %v", gvk, o.GetName(), err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if o.GetNamespace() != "" {
			ri = dyn.Resource(m.Resource).Namespace(o.GetNamespace())
		}
		if _, err := ri.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: "granary-test", Force: true}); err != nil {
			t.Errorf("server-side apply of %s %s: %v", gvk.Kind, o.GetName(), err)
		}
		kinds[gvk.Kind] = true
	}
	return kinds, dyn
}

func TestDeployManifestsApply(t *testing.T) {
	env := k8stest.Start(t)
	ctx := context.Background()
	kinds, _ := apply(t, env)
	for _, k := range []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "Service", "PodDisruptionBudget", "CustomResourceDefinition"} {
		if !kinds[k] {
			t.Errorf("deploy/kubernetes has no %s", k)
		}
	}
	d, err := env.Client.AppsV1().Deployments("granary").Get(ctx, "granary", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 2 || d.Spec.Template.Spec.ServiceAccountName != "granary" || !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--kube") {
		t.Errorf("deployment: %d replicas, service account %q, args %v", *d.Spec.Replicas, d.Spec.Template.Spec.ServiceAccountName, d.Spec.Template.Spec.Containers[0].Args)
	}

	// RBAC: allowed exactly where the code needs it.
	sa := "system:serviceaccount:granary:granary"
	check := func(ns, group, resource, sub, verb string, want bool) {
		t.Helper()
		r, err := env.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
			User: sa, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:granary"},
			ResourceAttributes: &authzv1.ResourceAttributes{Namespace: ns, Group: group, Resource: resource, Subresource: sub, Verb: verb},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status.Allowed != want {
			t.Errorf("%s %s/%s in %q (group %q): allowed=%v, want %v", verb, resource, sub, ns, group, r.Status.Allowed, want)
		}
	}
	for _, v := range []string{"get", "list", "watch"} {
		check("", "", "nodes", "", v, true)
		check("team-a", "", "pods", "", v, true)
	}
	check("team-a", "", "pods", "binding", "create", true)
	check("team-a", "", "pods", "status", "patch", true)
	check("team-a", "", "pods", "", "delete", true)
	check("team-a", "", "events", "", "create", true)
	check("granary", "coordination.k8s.io", "leases", "", "update", true)
	// Not granted.
	check("team-a", "coordination.k8s.io", "leases", "", "update", false)
	check("team-a", "", "secrets", "", "get", false)
	check("", "", "nodes", "", "update", false)
	check("", "", "nodes", "", "delete", false)
	check("team-a", "", "pods", "", "create", true) // GranaryJob pods
	for _, v := range []string{"get", "list", "watch"} {
		check("team-a", "granary.io", "granaryjobs", "", v, true)
	}
	check("team-a", "granary.io", "granaryjobs", "status", "update", true)
	check("team-a", "granary.io", "granaryjobs", "finalizers", "update", true)
	check("team-a", "granary.io", "granaryjobs", "", "update", false) // the user's spec is theirs
	check("team-a", "granary.io", "granaryjobs", "", "delete", false)
	check("team-a", "", "events", "", "patch", true)
	check("team-a", "events.k8s.io", "events", "", "create", true)
	check("team-a", "", "pods", "exec", "create", false)
	if t.Failed() {
		return
	}
	t.Logf("applied %d kinds: %s", len(kinds), strings.Join(sortedKeys(kinds), ", "))
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
