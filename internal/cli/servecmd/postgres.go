package servecmd

import (
	"context"
	"fmt"

	"github.com/granaryhq/granary/internal/store/postgres"
)

func openPostgres(ctx context.Context, dsn string) (*Store, error) {
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("opening PostgreSQL: %w", err)
	}
	return &Store{Store: s, Name: s.String(), Ping: s.Ping, Close: s.Close}, nil
}
