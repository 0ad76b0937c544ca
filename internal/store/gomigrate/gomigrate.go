// Package gomigrate holds the schema migrations written in Go, not SQL, that
// both SQL stores (sqlite and postgres) run: each store passes its own
// statements, in its own placeholder style, and registers the migration with
// its goose provider.
package gomigrate

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/pressly/goose/v3"

	"github.com/granaryhq/granary/internal/jobs"
)

// JobSearch is migration 00171: it writes the folded name and class
// (jobs.Folded) of every job stored before migration 00170 added the
// name_lc and class_lc columns. It is Go, not SQL, so every store folds as
// Go does (SQLite's lower() folds ASCII only; PostgreSQL's depends on the
// database's locale). update sets name_lc, class_lc of the job with a seq,
// in that order of parameters. Each call makes a new value: a goose
// provider keeps state in it.
func JobSearch(update string) *goose.Migration {
	up := func(ctx context.Context, tx *sql.Tx) error { return fillJobSearch(ctx, tx, update) }
	down := func(context.Context, *sql.Tx) error { return nil }
	return goose.NewGoMigration(171, &goose.GoFunc{RunTx: up}, &goose.GoFunc{RunTx: down})
}

func fillJobSearch(ctx context.Context, tx *sql.Tx, update string) error {
	rows, err := tx.QueryContext(ctx, "SELECT seq, spec FROM jobs WHERE name_lc IS NULL OR class_lc IS NULL")
	if err != nil {
		return err
	}
	type fill struct {
		seq         int64
		name, class string
	}
	var fills []fill
	for rows.Next() {
		var (
			f    fill
			spec string
			sp   jobs.Spec
		)
		if err := rows.Scan(&f.seq, &spec); err != nil {
			rows.Close()
			return err
		}
		if err := json.Unmarshal([]byte(spec), &sp); err != nil {
			rows.Close()
			return fmt.Errorf("job %s: spec: %w", jobs.FormatID(f.seq), err)
		}
		f.name, f.class = jobs.Folded(&sp)
		fills = append(fills, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, f := range fills {
		if _, err := tx.ExecContext(ctx, update, f.name, f.class, f.seq); err != nil {
			return err
		}
	}
	return nil
}
