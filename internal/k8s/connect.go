package k8s

import (
	"fmt"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ConnectError is an API server Granary could not reach or use: the URL
// and the error. servecmd exits 2 on it.
type ConnectError struct {
	Host string
	Err  error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("kubernetes API server %s: %v", e.Host, e.Err)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// Config loads the client configuration: the kubeconfig file at path when
// given, else $KUBECONFIG (getenv), else the in-cluster service account
// when running in a pod, else ~/.kube/config.
func Config(path string, getenv func(string) string) (*rest.Config, error) {
	if path == "" && getenv("KUBECONFIG") == "" && getenv("KUBERNETES_SERVICE_HOST") != "" {
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, &ConnectError{Host: "in-cluster", Err: err}
		}
		return c, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	if path == "" && getenv("KUBECONFIG") != "" {
		rules.Precedence = filepath.SplitList(getenv("KUBECONFIG"))
	}
	c, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		where := path
		if where == "" {
			where = "kubeconfig"
		}
		return nil, &ConnectError{Host: where, Err: err}
	}
	return c, nil
}

// Connect loads the configuration (see Config) and checks that the API
// server answers (its version) within timeout. Its error is a
// *ConnectError naming the server URL.
func Connect(path string, getenv func(string) string, timeout time.Duration) (*rest.Config, error) {
	c, err := Config(path, getenv)
	if err != nil {
		return nil, err
	}
	c.QPS, c.Burst = 200, 400
	probe := rest.CopyConfig(c)
	probe.Timeout = timeout
	cs, err := kubernetes.NewForConfig(probe)
	if err != nil {
		return nil, &ConnectError{Host: c.Host, Err: err}
	}
	if _, err := cs.Discovery().ServerVersion(); err != nil {
		return nil, &ConnectError{Host: c.Host, Err: err}
	}
	return c, nil
}
