package api_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granaryhq/granary/internal/api"
	"github.com/granaryhq/granary/internal/api/apitest"
	"github.com/granaryhq/granary/internal/client"
	"github.com/granaryhq/granary/internal/inventory"
)

func TestTokenLifeCycle(t *testing.T) { forEachStore(t, testTokenLifeCycle) }

// testTokenLifeCycle: a revoked, a deleted and an expired token are each
// refused with 401 at their next request; the list shows state, expiry and
// last use. Expiry runs on the injected clock, not on sleeps.
func testTokenLifeCycle(t *testing.T, o apitest.Options) {
	var now atomic.Int64
	start := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	now.Store(start.UnixMicro())
	o.Now = func() time.Time { return time.UnixMicro(now.Load()).UTC() }
	srv := apitest.Start(t, o)
	ctx := context.Background()
	admin := srv.Client(t, apitest.AdminSecret)

	mint := func(in api.NewToken) api.CreatedToken {
		t.Helper()
		tok, err := admin.IssueToken(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	works := func(who string, secret string, want int) {
		t.Helper()
		status, body := call(t, srv, "GET", "/api/v1/fleet/summary", secret, "", nil)
		if status != want {
			t.Errorf("%s: status %d, want %d\n%s", who, status, want, body)
		}
	}
	revoked := mint(api.NewToken{Role: inventory.RoleViewer, Name: "revoked"})
	deleted := mint(api.NewToken{Role: inventory.RoleViewer, Name: "deleted"})
	expiring := mint(api.NewToken{Role: inventory.RoleViewer, Name: "expiring", ExpiresAt: start.Add(time.Hour)})
	if !expiring.ExpiresAt.Equal(start.Add(time.Hour)) {
		t.Errorf("expires_at %v", expiring.ExpiresAt)
	}
	for _, tok := range []api.CreatedToken{revoked, deleted, expiring} {
		works(tok.Name+" before", tok.Secret, http.StatusOK)
	}

	if err := admin.RevokeToken(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	works("revoked", revoked.Secret, http.StatusUnauthorized)
	if err := admin.DeleteToken(ctx, deleted.ID); err != nil {
		t.Fatal(err)
	}
	works("deleted", deleted.Secret, http.StatusUnauthorized)
	now.Store(start.Add(time.Hour - time.Microsecond).UnixMicro())
	works("expiring, 1 µs before", expiring.Secret, http.StatusOK)
	now.Store(start.Add(time.Hour).UnixMicro())
	works("expired", expiring.Secret, http.StatusUnauthorized)

	list, err := admin.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]inventory.Token{}
	for _, l := range list {
		got[l.ID] = l
	}
	at := time.UnixMicro(now.Load()).UTC()
	if _, ok := got[deleted.ID]; ok || len(list) != 3 {
		t.Errorf("list after delete: %+v", list)
	}
	if r := got[revoked.ID]; r.State(at) != inventory.TokenRevoked || !r.LastUsedAt.Equal(start) {
		t.Errorf("revoked token listed as %+v", r)
	}
	if e := got[expiring.ID]; e.State(at) != inventory.TokenExpired || !e.LastUsedAt.Equal(start.Add(time.Hour-time.Microsecond)) {
		t.Errorf("expired token listed as %+v", e)
	}

	// An expiry in the past is refused with the field named; nothing is made.
	var ce *client.Error
	if _, err := admin.IssueToken(ctx, api.NewToken{Role: inventory.RoleViewer, ExpiresAt: start}); !errors.As(err, &ce) || ce.Status != http.StatusUnprocessableEntity {
		t.Errorf("past expiry: %v", err)
	}
	if l, _ := admin.Tokens(ctx); len(l) != 3 {
		t.Errorf("a refused token was stored: %d tokens", len(l))
	}
}
