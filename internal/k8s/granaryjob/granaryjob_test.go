package granaryjob_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/granaryhq/granary/internal/k8s"
	"github.com/granaryhq/granary/internal/k8s/granaryjob"
	"github.com/granaryhq/granary/internal/k8s/k8stest"
)

var deploy = filepath.Join("..", "..", "..", "deploy")

// readYAML decodes a deploy/ file strictly: a field the Go type does not
// know fails the test.
func readYAML(t *testing.T, rel string, into any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(deploy, rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, into); err != nil {
		t.Fatalf("deploy/%s: %v", rel, err)
	}
}

// TestCRDVendorsMatchMapping: the CRD's vendor enum is exactly the
// vendors of the catalog's Kubernetes mapping.
func TestCRDVendorsMatchMapping(t *testing.T) {
	var crd apiextensionsv1.CustomResourceDefinition
	readYAML(t, "kubernetes/crd-granaryjobs.yaml", &crd)
	v := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["variants"].Items.Schema.Properties["vendor"]
	var got []string
	for _, e := range v.Enum {
		var s string
		if err := yaml.Unmarshal(e.Raw, &s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	var want []string
	for _, m := range k8s.Vendors {
		want = append(want, m.Name)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("vendor enum %q, want the mapping's vendors %q", got, want)
	}
}

func valid() *granaryjob.GranaryJob {
	return &granaryjob.GranaryJob{
		ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: "default"},
		Spec: granaryjob.Spec{
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "trainer"}}}},
			Gang:     granaryjob.Gang{Pods: 2, AcceleratorsPerPod: 8},
			Team:     "research",
			Model:    "Llama-3-8B", Precision: "bf16", Workload: "train",
			AllowedModels:   []string{"h800-sxm5-80gb", "ascend-910b3"},
			ForbiddenModels: []string{"ascend-910b4"},
			Variants: []granaryjob.Variant{
				{Vendor: "NVIDIA", Image: "cuda:1", Command: []string{"train"},
					Env:       []corev1.EnvVar{{Name: "A", Value: "1"}},
					Resources: corev1.ResourceList{"rdma/hca": resource.MustParse("1")}},
				{Vendor: "Huawei", Image: "cann:1"},
			},
		},
	}
}

// TestGranaryJobCRD installs the CRD from deploy/ in a real kube-apiserver,
// then checks that valid jobs are stored as written and that each bad spec
// is refused with a message naming the field.
func TestGranaryJobCRD(t *testing.T) {
	env := k8stest.Start(t)
	c := env.GranaryJobClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	installCRD(ctx, t, c)
	t.Run("valid job round-trips", func(t *testing.T) { validRoundTrips(ctx, t, c, env) })
	t.Run("example manifest accepted", func(t *testing.T) { exampleAccepted(ctx, t, c) })
	badSpecsRefused(ctx, t, c)
}

// installCRD creates the GranaryJob CRD from deploy/ and waits until the
// type is served.
func installCRD(ctx context.Context, t *testing.T, c client.Client) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	readYAML(t, "kubernetes/crd-granaryjobs.yaml", crd)
	if err := c.Create(ctx, crd); err != nil {
		t.Fatalf("creating the CRD: %v", err)
	}
	for established := false; !established; {
		if err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, crd); err != nil {
			t.Fatal(err)
		}
		for _, cond := range crd.Status.Conditions {
			if cond.Type == apiextensionsv1.NamesAccepted && cond.Status == apiextensionsv1.ConditionFalse {
				t.Fatalf("CRD names refused: %s", cond.Message)
			}
			established = established || cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue
		}
		if !established {
			select {
			case <-ctx.Done():
				t.Fatalf("CRD not Established: %+v", crd.Status.Conditions)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	// The discovery of the new type can lag Established by a moment.
	var list granaryjob.GranaryJobList
	for c.List(ctx, &list, client.InNamespace("default")) != nil {
		select {
		case <-ctx.Done():
			t.Fatal("granaryjobs never served")
		case <-time.After(100 * time.Millisecond):
		}
	}

}

// validRoundTrips: a valid job reads back as written, its status
// subresource keeps status writes apart, and kubectl's table has the
// printer columns.
func validRoundTrips(ctx context.Context, t *testing.T, c client.Client, env *k8stest.Env) {
	j := valid()
	if err := c.Create(ctx, j); err != nil {
		t.Fatalf("valid job refused: %v", err)
	}
	var got granaryjob.GranaryJob
	if err := c.Get(ctx, client.ObjectKeyFromObject(j), &got); err != nil {
		t.Fatal(err)
	}
	w := valid().Spec
	if got.Spec.Gang != w.Gang || got.Spec.Model != w.Model || got.Spec.Team != w.Team || len(got.Spec.Variants) != 2 ||
		got.Spec.Variants[1].Image != "cann:1" || got.Spec.Variants[0].Env[0].Value != "1" ||
		!got.Spec.Variants[0].Resources.Name("rdma/hca", resource.DecimalSI).Equal(resource.MustParse("1")) ||
		got.Spec.Template.Spec.Containers[0].Name != "trainer" {
		t.Errorf("read back %+v, want %+v", got.Spec, w)
	}
	// The status subresource: a status write through the main resource
	// is ignored, through /status it is kept.
	got.Status = granaryjob.Status{Phase: granaryjob.Running, Model: "h800-sxm5-80gb", Nodes: []string{"n1", "n2"}, Reason: "running", Restarts: 1,
		Conditions: []metav1.Condition{{Type: "Admitted", Status: metav1.ConditionTrue, Reason: "Placed", Message: "on 2 H800 nodes", LastTransitionTime: metav1.Now()}}}
	if err := c.Status().Update(ctx, &got); err != nil {
		t.Fatalf("status update: %v", err)
	}
	var again granaryjob.GranaryJob
	if err := c.Get(ctx, client.ObjectKeyFromObject(j), &again); err != nil {
		t.Fatal(err)
	}
	if again.Status.Phase != granaryjob.Running || again.Status.Model != "h800-sxm5-80gb" || len(again.Status.Nodes) != 2 || len(again.Status.Conditions) != 1 {
		t.Errorf("status read back %+v", again.Status)
	}
	if again.Generation != got.Generation {
		t.Errorf("a status write bumped the generation %d → %d", got.Generation, again.Generation)
	}
	// kubectl get granaryjobs: the printer columns, as a Table.
	raw, err := env.Client.CoreV1().RESTClient().Get().AbsPath("/apis/granary.io/v1alpha1/namespaces/default/granaryjobs/j").
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var table metav1.Table
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, col := range table.ColumnDefinitions {
		cols = append(cols, col.Name)
	}
	if len(table.Rows) != 1 {
		t.Fatalf("table rows %d, want 1", len(table.Rows))
	}
	row := fmt.Sprint(table.Rows[0].Cells)
	if strings.Join(cols, ",") != "Name,Team,Model,Gang,Per-Pod,Phase,Reason,Age" || !strings.HasPrefix(row, "[j research h800-sxm5-80gb 2 8 Running running ") {
		t.Errorf("kubectl get columns %v row %s", cols, row)
	}
}

// exampleAccepted: the example manifest in deploy/ is a valid GranaryJob.
func exampleAccepted(ctx context.Context, t *testing.T, c client.Client) {
	var j granaryjob.GranaryJob
	readYAML(t, "examples/granaryjob-cuda-cann.yaml", &j)
	j.Namespace = "default"
	if err := c.Create(ctx, &j); err != nil {
		t.Fatalf("deploy/examples/granaryjob-cuda-cann.yaml refused: %v", err)
	}
	vendors := []string{}
	for _, v := range j.Spec.Variants {
		vendors = append(vendors, v.Vendor)
	}
	if strings.Join(vendors, ",") != "NVIDIA,Huawei" {
		t.Errorf("example variants %v, want a CUDA (NVIDIA) and a CANN (Huawei) one", vendors)
	}
}

// badSpecsRefused: each invalid spec is refused with 422 naming its
// fields; the control case is accepted.
func badSpecsRefused(ctx context.Context, t *testing.T, c client.Client) {
	bad := []struct {
		name   string
		mutate func(*granaryjob.Spec)
		want   []string // substrings of the refusal
	}{
		{"class and model", func(s *granaryjob.Spec) { s.Class = "llama-8b" }, []string{"spec.model", "spec.class"}},
		{"neither class nor model", func(s *granaryjob.Spec) { s.Model, s.Precision, s.Workload = "", "", "" }, []string{"spec.model", "spec.class"}},
		{"precision with class", func(s *granaryjob.Spec) { s.Model, s.Workload, s.Class = "", "", "llama-8b" }, []string{"spec.precision"}},
		{"model allowed and forbidden", func(s *granaryjob.Spec) { s.ForbiddenModels = []string{"ascend-910b3"} }, []string{"spec.forbiddenModels", "spec.allowedModels"}},
		{"duplicate vendor", func(s *granaryjob.Spec) { s.Variants[1].Vendor = "NVIDIA" }, []string{"spec.variants", "same vendor"}},
		{"unknown vendor", func(s *granaryjob.Spec) { s.Variants[1].Vendor = "Huawai" }, []string{"spec.variants[1].vendor", "Huawei"}},
		{"no variant", func(s *granaryjob.Spec) { s.Variants = nil }, []string{"spec.variants"}},
		{"empty variants", func(s *granaryjob.Spec) { s.Variants = []granaryjob.Variant{} }, []string{"spec.variants"}},
		{"gang pods 0", func(s *granaryjob.Spec) { s.Gang.Pods = 0 }, []string{"spec.gang.pods"}},
		{"gang accelerators 0", func(s *granaryjob.Spec) { s.Gang.AcceleratorsPerPod = 0 }, []string{"spec.gang.acceleratorsPerPod"}},
		{"no team", func(s *granaryjob.Spec) { s.Team = "" }, []string{"spec.team"}},
		{"bad precision", func(s *granaryjob.Spec) { s.Precision = "fp6" }, []string{"spec.precision", "bf16"}},
		{"control: class only, no lists", func(s *granaryjob.Spec) {
			s.Model, s.Precision, s.Workload, s.Class, s.AllowedModels, s.ForbiddenModels = "", "", "", "llama-8b", nil, nil
		}, nil}, // valid: the table can fail both ways
	}
	for i, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			j := valid()
			j.Name = "bad-" + string(rune('a'+i))
			tc.mutate(&j.Spec)
			err := c.Create(ctx, j)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted a spec with %s", tc.name)
			}
			t.Log(err)
			if !apierrors.IsInvalid(err) {
				t.Fatalf("refused with %v, want 422 Invalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("refusal %q does not name %q", err, w)
				}
			}
		})
	}
}

// TestDeepCopy: the copy equals the original and shares no slice or map
// with it.
func TestDeepCopy(t *testing.T) {
	j := valid()
	j.Status = granaryjob.Status{Nodes: []string{"n1"}, Conditions: []metav1.Condition{{Type: "Admitted", Reason: "Placed"}}}
	c := j.DeepCopy()
	if !reflect.DeepEqual(j, c) {
		t.Fatalf("copy %+v differs from %+v", c, j)
	}
	c.Spec.AllowedModels[0] = "x"
	c.Spec.ForbiddenModels[0] = "x"
	c.Spec.Variants[0].Command[0] = "x"
	c.Spec.Variants[0].Env[0].Value = "x"
	c.Spec.Variants[0].Resources["rdma/hca"] = resource.MustParse("9")
	c.Spec.Template.Spec.Containers[0].Name = "x"
	c.Status.Nodes[0] = "x"
	c.Status.Conditions[0].Reason = "x"
	if !reflect.DeepEqual(j, func() *granaryjob.GranaryJob {
		o := valid()
		o.Status = granaryjob.Status{Nodes: []string{"n1"}, Conditions: []metav1.Condition{{Type: "Admitted", Reason: "Placed"}}}
		return o
	}()) {
		t.Errorf("changing the copy changed the original: %+v", j)
	}
	l := &granaryjob.GranaryJobList{Items: []granaryjob.GranaryJob{*j}}
	lc := l.DeepCopyObject().(*granaryjob.GranaryJobList)
	lc.Items[0].Spec.Variants[1].Image = "x"
	if l.Items[0].Spec.Variants[1].Image != "cann:1" {
		t.Error("changing the list copy changed the original")
	}
}
