package servecmd

import (
	"context"
	"errors"
)

func openPostgres(ctx context.Context, dsn string) (*Store, error) {
	return nil, errors.New("postgres store not available yet")
}
