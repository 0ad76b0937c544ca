package servecmd

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/store"
)

// demoToken is the admin token a demo prints. On a SQLite store its secret
// is kept in DB.token (mode 0600) beside the file, so a restarted demo
// prints the same token instead of minting another admin token at every
// start; a new one is made only when that file is gone or its token no
// longer authenticates (revoked, deleted). PostgreSQL demos keep no file:
// only their first start prints the token. tok, secret and created are
// what Bootstrap returned; the file is returned as kept ("" when none).
func demoToken(ctx context.Context, ledger *inventory.Service, db string, tok inventory.Token, secret string, created bool) (inventory.Token, string, string, error) {
	kind, path, err := store.Parse(db)
	if err != nil || kind != store.SQLite {
		return tok, secret, "", err
	}
	file := path + ".token"
	if !created {
		if b, err := os.ReadFile(file); err == nil {
			s := strings.TrimSpace(string(b))
			if t, err := ledger.Authenticate(ctx, s); err == nil && t.Role == inventory.RoleAdmin {
				return t, s, file, nil
			}
		}
		if tok, secret, err = ledger.CreateToken(ctx, inventory.RoleAdmin, "demo"); err != nil {
			return tok, secret, "", err
		}
	}
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		return tok, secret, "", fmt.Errorf("keeping the demo token: %w", err)
	}
	return tok, secret, file, nil
}
