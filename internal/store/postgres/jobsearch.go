package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/pressly/goose/v3"

	"github.com/granaryhq/granary/internal/jobs"
)

// fillJobSearch is Go migration 00171: it writes the folded name and class
// (jobs.Folded) of every job stored before migration 00170 added the
// columns. It is Go, not SQL, so every store folds as Go does (lower()
// depends on the database's locale). Each call makes a new value: a
// provider keeps state in it.
func fillJobSearch() *goose.Migration {
	return goose.NewGoMigration(171, &goose.GoFunc{RunTx: fillJobSearchUp}, &goose.GoFunc{RunTx: func(context.Context, *sql.Tx) error { return nil }})
}

func fillJobSearchUp(ctx context.Context, tx *sql.Tx) error {
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
		if _, err := tx.ExecContext(ctx, "UPDATE jobs SET name_lc = $1, class_lc = $2 WHERE seq = $3", f.name, f.class, f.seq); err != nil {
			return err
		}
	}
	return nil
}
