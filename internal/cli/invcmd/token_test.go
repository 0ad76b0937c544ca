package invcmd

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/api/apitest"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/store"
	"github.com/granaryhq/granary/internal/store/storetest"
)

// TestTokenLifeCycleCLI: create with --expires, revoke, delete, end to end
// against a server; each refused token exits 1 with the server's 401.
func TestTokenLifeCycleCLI(t *testing.T) {
	srv, env := setup(t)
	as := func(secret string) map[string]string {
		return map[string]string{"GRANARY_SERVER": srv.URL, "GRANARY_TOKEN": secret, "HOME": t.TempDir()}
	}
	r := granary(t, env, NewToken, "create", "--role", "viewer", "--name", "ci", "--expires", "720h", "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"expires_at"`) {
		t.Fatalf("create --expires: %+v", r)
	}
	ci := tokenFromJSON(t, r.stdout)
	r = granary(t, env, NewToken, "create", "--role", "viewer", "--name", "old")
	old := strings.TrimSpace(r.stdout)
	oldTok, err := srv.Ledger.Authenticate(context.Background(), old)
	if err != nil {
		t.Fatal(err)
	}
	if r := granary(t, as(ci.secret), New, "summary"); r.code != 0 {
		t.Fatalf("ci token before revoke: %+v", r)
	}
	r = granary(t, env, NewToken, "list")
	if r.code != 0 || !strings.Contains(r.stdout, "LAST USED") || !strings.Contains(r.stdout, "active") {
		t.Errorf("list: %+v", r)
	}
	if r := granary(t, env, NewToken, "revoke", ci.id); r.code != 0 {
		t.Fatalf("revoke: %+v", r)
	}
	if r := granary(t, as(ci.secret), New, "summary"); r.code != 1 || !strings.Contains(r.stderr, "401") {
		t.Errorf("revoked token: %+v", r)
	}
	if r := granary(t, env, NewToken, "list"); !strings.Contains(r.stdout, "revoked") {
		t.Errorf("list after revoke: %+v", r)
	}
	if r := granary(t, env, NewToken, "delete", oldTok.ID); r.code != 0 {
		t.Fatalf("delete: %+v", r)
	}
	if r := granary(t, as(old), New, "summary"); r.code != 1 || !strings.Contains(r.stderr, "401") {
		t.Errorf("deleted token: %+v", r)
	}
	if r := granary(t, env, NewToken, "list"); strings.Contains(r.stdout, oldTok.ID) {
		t.Errorf("deleted token still listed: %+v", r)
	}
	if r := granary(t, env, NewToken, "delete", oldTok.ID); r.code != 2 || !strings.Contains(r.stderr, "404") {
		t.Errorf("delete twice: %+v", r)
	}
	if r := granary(t, env, NewToken, "create", "--role", "viewer", "--expires", "-1h"); r.code != 2 {
		t.Errorf("negative --expires: %+v", r)
	}
	if r := granary(t, env, NewToken, "revoke"); r.code == 0 || !strings.Contains(r.stderr, "accepts 1 arg") {
		t.Errorf("revoke without an id: %+v", r)
	}
}

type created struct{ id, secret string }

func tokenFromJSON(t *testing.T, s string) created {
	t.Helper()
	var c struct{ ID, Secret string }
	if err := json.Unmarshal([]byte(s), &c); err != nil || c.ID == "" || c.Secret == "" {
		t.Fatalf("token JSON %q: %v", s, err)
	}
	return created{c.ID, c.Secret}
}

// TestTokenCreateOfflineRecovery: on a store whose only admin secret is
// lost, `token create --db` (no server, no token) makes an admin token that
// a server on that store then accepts — for a SQLite file and PostgreSQL.
func TestTokenCreateOfflineRecovery(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "granary.db")
		testOfflineRecovery(t, path)
		missing := filepath.Join(t.TempDir(), "typo.db")
		if r := granary(t, nil, NewToken, "create", "--db", missing, "--role", "admin"); r.code != 2 {
			t.Errorf("missing store: %+v", r)
		}
		if _, err := os.Stat(missing); err == nil {
			t.Error("token create --db made a new store")
		}
	})
	t.Run("postgres", func(t *testing.T) { testOfflineRecovery(t, storetest.PostgresURL(t)) })
}

func testOfflineRecovery(t *testing.T, db string) {
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	svc := storetest.NewService(t, st)
	if _, _, created, err := svc.Bootstrap(ctx, ""); err != nil || !created {
		t.Fatalf("bootstrap: %v %v", created, err) // its secret is dropped: the lock-out
	}
	st.Close()

	r := granary(t, map[string]string{"HOME": t.TempDir()}, NewToken, "create", "--db", db, "--role", "admin", "--name", "recovery")
	secret := strings.TrimSpace(r.stdout)
	if r.code != 0 || !strings.HasPrefix(secret, inventory.TokenPrefix) {
		t.Fatalf("token create --db: %+v", r)
	}
	if r := granary(t, map[string]string{"HOME": t.TempDir()}, NewToken, "list", "--db", db); r.code != 0 || !strings.Contains(r.stdout, "recovery") || !strings.Contains(r.stdout, "bootstrap") {
		t.Errorf("token list --db: %+v", r)
	}

	st, err = store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := apitest.Start(t, apitest.Options{Store: st})
	env := map[string]string{"GRANARY_SERVER": srv.URL, "GRANARY_TOKEN": secret, "HOME": t.TempDir()}
	if r := granary(t, env, NewToken, "create", "--role", "viewer"); r.code != 0 {
		t.Errorf("the recovered admin token on a server: %+v", r)
	}
}
