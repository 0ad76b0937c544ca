package postgres

import (
	"context"
	"io/fs"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/granaryhq/granary/internal/store/storetest"
)

// TestFillJobSearch: jobs stored before migration 00170 are found by their
// name and class after Open (Go migration 00171, store/gomigrate, folds them as Go does).
func TestFillJobSearch(t *testing.T) {
	ctx := context.Background()
	url := storetest.PostgresURL(t)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 160); err != nil {
		t.Fatal(err)
	}
	for _, spec := range storetest.OldJobSpecs {
		if _, err := db.ExecContext(ctx, "INSERT INTO jobs (team, state, spec, submitted_at, why_code, why) VALUES ('x', 'pending', $1, 0, 'submitted', 'submitted')", spec); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	st, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storetest.OldJobsFound(t, st)
}
