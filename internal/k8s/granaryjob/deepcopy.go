package granaryjob

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// DeepCopyInto copies j into out.
func (j *GranaryJob) DeepCopyInto(out *GranaryJob) {
	*out = *j
	j.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	j.Spec.DeepCopyInto(&out.Spec)
	j.Status.DeepCopyInto(&out.Status)
}

// DeepCopy returns a copy of j.
func (j *GranaryJob) DeepCopy() *GranaryJob {
	if j == nil {
		return nil
	}
	out := new(GranaryJob)
	j.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (j *GranaryJob) DeepCopyObject() runtime.Object { return j.DeepCopy() }

// DeepCopyObject implements runtime.Object.
func (l *GranaryJobList) DeepCopyObject() runtime.Object {
	if l == nil {
		return nil
	}
	out := &GranaryJobList{TypeMeta: l.TypeMeta}
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	if l.Items != nil {
		out.Items = make([]GranaryJob, len(l.Items))
		for i := range l.Items {
			l.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
	return out
}

// DeepCopyInto copies s into out.
func (s *Spec) DeepCopyInto(out *Spec) {
	*out = *s
	s.Template.DeepCopyInto(&out.Template)
	out.AllowedModels = cloneStrings(s.AllowedModels)
	out.ForbiddenModels = cloneStrings(s.ForbiddenModels)
	if s.Variants != nil {
		out.Variants = make([]Variant, len(s.Variants))
		for i := range s.Variants {
			s.Variants[i].DeepCopyInto(&out.Variants[i])
		}
	}
}

// DeepCopyInto copies v into out.
func (v *Variant) DeepCopyInto(out *Variant) {
	*out = *v
	out.Command = cloneStrings(v.Command)
	out.Args = cloneStrings(v.Args)
	if v.Env != nil {
		out.Env = make([]corev1.EnvVar, len(v.Env))
		for i := range v.Env {
			v.Env[i].DeepCopyInto(&out.Env[i])
		}
	}
	out.Resources = v.Resources.DeepCopy()
}

// DeepCopyInto copies s into out.
func (s *Status) DeepCopyInto(out *Status) {
	*out = *s
	out.Nodes = cloneStrings(s.Nodes)
	if s.Conditions != nil {
		out.Conditions = make([]metav1.Condition, len(s.Conditions))
		for i := range s.Conditions {
			s.Conditions[i].DeepCopyInto(&out.Conditions[i])
		}
	}
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}
