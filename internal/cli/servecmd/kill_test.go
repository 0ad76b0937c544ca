package servecmd

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/granaryhq/granary/internal/cli/clitest"
	"github.com/granaryhq/granary/internal/client"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/store/storetest"
)

const killToken = "gry_kill_test_admin"

// buildBinary builds cmd/granary into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "granary")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/granaryhq/granary/cmd/granary")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a running `granary serve` subprocess.
type proc struct {
	cmd    *exec.Cmd
	url    string
	stderr *clitest.Buffer
	done   chan error
}

func startProc(t *testing.T, bin, db string) *proc {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--db", db, "--log-level", "warn")
	cmd.Env = append(os.Environ(), "GRANARY_BOOTSTRAP_TOKEN="+killToken)
	p := &proc{cmd: cmd, stderr: &clitest.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		io.Copy(io.Discard, out)
		p.done <- cmd.Wait()
	}()
	select {
	case p.url = <-urls:
	case err := <-p.done:
		t.Fatalf("serve exited before listening: %v\n%s", err, p.stderr)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("serve did not listen within 60 s\n%s", p.stderr)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) client(t *testing.T) *client.Client {
	c, err := client.New(p.url, killToken, &http.Client{Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

func devicesCSV(prefix string, n int) []byte {
	var b bytes.Buffer
	b.WriteString("serial,model,state,node,site,pool,acquired,cost_usd,labels\n")
	models := []string{"A800", "H800", "H20", "910B3", "910C", "P800"}
	for i := range n {
		fmt.Fprintf(&b, "%s%07d,%s,in-service,n%05d,site-%d,pool-%d,2024-05-01,12000,rack=r%d\n", prefix, i, models[i%len(models)], i/8, (i/8)%3, i%4, i%40)
	}
	return b.Bytes()
}

// outcome checks the import of n devices with prefix left none or all of
// it, and returns which.
func outcome(t *testing.T, c *client.Client, before int, prefix string, n int) string {
	t.Helper()
	ctx := context.Background()
	sum, err := c.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first, errFirst := c.History(ctx, fmt.Sprintf("%s%07d", prefix, 0))
	last, errLast := c.History(ctx, fmt.Sprintf("%s%07d", prefix, n-1))
	switch delta := sum.Totals.Devices - before; {
	case delta == 0 && errors.Is(errFirst, fleet.ErrNotFound) && errors.Is(errLast, fleet.ErrNotFound):
		return "none"
	case delta == n && errFirst == nil && errLast == nil && len(first.Events) == 1 && len(last.Events) == 1:
		return "all"
	default:
		t.Fatalf("import %s left %d of %d devices (first: %v, last: %v)", prefix, delta, n, errFirst, errLast)
		return ""
	}
}

// TestSIGKILLMidImport kills a real `granary serve` with SIGKILL while it
// applies a large import, restarts it on the same store, and checks that the
// store holds none of the import or all of it and that the server starts
// cleanly and works. The kill points are fractions of a measured import
// time; on SQLite one more kill waits for the write-ahead log to grow, which
// is inside the import's transaction.
func TestSIGKILLMidImport(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and imports 40,000 devices several times")
	}
	bin := buildBinary(t)
	t.Run("sqlite", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "kill.db")
		probe, err := sql.Open("sqlite", "file:"+db+"?_pragma=busy_timeout(0)")
		if err != nil {
			t.Fatal(err)
		}
		defer probe.Close()
		killMidImport(t, bin, db, func(prefix string) (bool, string) {
			// Inside the import's transaction the write lock is held (our
			// BEGIN IMMEDIATE is refused at once) and, to a reader, none of
			// the import is visible yet.
			ctx := context.Background()
			conn, err := probe.Conn(ctx)
			if err != nil {
				return false, err.Error()
			}
			defer conn.Close()
			if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err == nil {
				conn.ExecContext(ctx, "ROLLBACK")
				return false, "no writer"
			} else if !strings.Contains(err.Error(), "locked") && !strings.Contains(err.Error(), "BUSY") {
				return false, err.Error()
			}
			var n int
			if err := probe.QueryRowContext(ctx, "SELECT count(*) FROM devices WHERE serial >= ? AND serial < ?", prefix, prefix+"~").Scan(&n); err != nil {
				return false, err.Error()
			}
			return n == 0, fmt.Sprintf("write lock held, %d of the import visible", n)
		})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn, _ := postgresTestDB(t)
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		killMidImport(t, bin, dsn, func(string) (bool, string) {
			// The server's import transaction shows in pg_stat_activity as
			// open (xact_start set) with an INSERT or COPY running or just done.
			var n int
			err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
				AND (query ILIKE '%insert%' OR query ILIKE '%copy%') AND now() - xact_start > interval '50 milliseconds'`).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			return n > 0, fmt.Sprintf("%d open transaction(s) inserting", n)
		})
	})
}

// killMidImport kills the server at fractions of a measured import, and once
// more as soon as inTx reports the transaction of the import of serials
// starting with prefix open (polled).
func killMidImport(t *testing.T, bin, db string, inTx func(prefix string) (bool, string)) {
	const n = 40_000
	ctx := context.Background()
	p := startProc(t, bin, db)
	c := p.client(t)
	start := time.Now()
	if _, err := c.Import(ctx, client.CSV, "calibrate.csv", bytes.NewReader(devicesCSV("CAL-", n))); err != nil {
		t.Fatal(err)
	}
	full := time.Since(start)
	total := n
	t.Logf("a %d-device import takes %v", n, full.Round(time.Millisecond))

	type attempt struct {
		name string
		wait func(prefix string) string
	}
	var attempts []attempt
	for _, f := range []float64{0.3, 0.6, 0.9} {
		attempts = append(attempts, attempt{fmt.Sprintf("after %.0f%% of an import", f*100), func(string) string {
			d := time.Duration(f * float64(full))
			time.Sleep(d)
			return "killed after " + d.Round(time.Millisecond).String()
		}})
	}
	attempts = append(attempts, attempt{"inside the import's transaction", func(prefix string) string {
		t0 := time.Now()
		for deadline := t0.Add(3 * full); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if ok, note := inTx(prefix); ok {
				return fmt.Sprintf("killed after %v: %s", time.Since(t0).Round(time.Millisecond), note)
			}
		}
		t.Errorf("the import's transaction was never seen open")
		return "transaction never seen; killed after " + time.Since(t0).Round(time.Millisecond).String()
	}})
	seen := map[string]int{}
	for i, a := range attempts {
		prefix := fmt.Sprintf("K%d-", i)
		data := devicesCSV(prefix, n)
		var wg sync.WaitGroup
		wg.Go(func() {
			// The request dies with the server; its error is expected.
			_, _ = c.Import(ctx, client.CSV, prefix+".csv", bytes.NewReader(data))
		})
		note := a.wait(prefix)
		p.kill(t)
		wg.Wait()

		p = startProc(t, bin, db)
		c = p.client(t)
		if err := c.Ready(ctx); err != nil {
			t.Fatalf("after SIGKILL %s: %v\n%s", a.name, err, p.stderr)
		}
		got := outcome(t, c, total, prefix, n)
		if got == "all" {
			total += n
		}
		seen[got]++
		t.Logf("SIGKILL %s (%s): %s of the import", a.name, note, got)
	}
	t.Logf("outcomes: %v", seen)
	// The restarted server takes a new import and shuts down cleanly.
	if _, err := c.Import(ctx, client.CSV, "after.csv", bytes.NewReader(devicesCSV("AFTER-", 100))); err != nil {
		t.Fatalf("import after restarts: %v", err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("serve exited with %v after SIGTERM\n%s", err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30 s of SIGTERM")
	}
	if strings.Contains(p.stderr.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", p.stderr)
	}
}

// postgresTestDB returns the URL of a fresh schema on the PostgreSQL test
// server (skipping when GRANARY_TEST_POSTGRES is unset, failing under CI).
func postgresTestDB(t *testing.T) (string, bool) {
	return storetest.PostgresURL(t), true
}
