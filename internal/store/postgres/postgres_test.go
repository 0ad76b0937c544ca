package postgres_test

import (
	"context"
	"testing"

	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/store/postgres"
	"github.com/granaryhq/granary/internal/store/storetest"
)

func open(t *testing.T) inventory.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestContract(t *testing.T) { storetest.Run(t, open) }

func TestReopenKeepsDataAndSchema(t *testing.T) {
	ctx := context.Background()
	url := storetest.PostgresURL(t)
	st, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	svc := storetest.NewService(t, st)
	if _, err := svc.Create(ctx, inventory.Device{Serial: "R-1", Model: "h20", State: "reserve"}, "", "t"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st2, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer st2.Close()
	if err := st2.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if d, err := st2.Device(ctx, "R-1"); err != nil || d.Model != "h20-96gb" {
		t.Errorf("after reopen: %+v, %v", d, err)
	}
}

func BenchmarkLedger(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) inventory.Store {
		st, err := postgres.Open(context.Background(), storetest.PostgresURL(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	})
}
