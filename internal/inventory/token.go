package inventory

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/granaryhq/granary/internal/fleet"
)

var cryptoRand io.Reader = rand.Reader

// TokenPrefix starts every generated token secret, so leaked secrets are easy
// to spot.
const TokenPrefix = "gry_"

// ParseRole resolves a role name (case-insensitive).
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	for _, k := range Roles {
		if k == r {
			return r, nil
		}
	}
	return "", fmt.Errorf("%w: unknown role %q (valid: viewer, operator, admin, agent)", fleet.ErrInvalid, s)
}

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Allows reports whether a token with role r may do what needs role need.
// The agent role allows exactly the operations that need it, and nothing
// else allows those.
func (r Role) Allows(need Role) bool {
	if r == RoleAgent || need == RoleAgent {
		return r == need
	}
	return r.rank() > 0 && r.rank() >= need.rank()
}

// HashSecret is how token secrets are stored: SHA-256 of the secret's bytes.
// Secrets are 160 random bits, so a fast hash is enough.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// TokenRequest is what IssueToken makes.
type TokenRequest struct {
	Role Role
	Name string
	// Node is the hostname an agent token reports for; only agent tokens
	// have one, and they must.
	Node string
	// ExpiresAt, if set, is when the token stops authenticating; it must
	// be in the future.
	ExpiresAt time.Time
}

// TouchEvery is how often a token's last use is written at most: often
// enough to tell a live token from a forgotten one, rare enough that
// authentication stays a read.
const TouchEvery = time.Minute

// IssueToken makes the token r asks for and returns the secret, which is
// shown only now.
func (s *Service) IssueToken(ctx context.Context, r TokenRequest) (Token, string, error) {
	r.Node = strings.TrimSpace(r.Node)
	switch {
	case r.Role == RoleAgent:
		if msg := checkHostname(r.Node); msg != "" {
			return Token{}, "", &fleet.InputError{Pos: fleet.Position{Field: "node"}, Msg: msg}
		}
	case r.Node != "":
		return Token{}, "", &fleet.InputError{Pos: fleet.Position{Field: "node"}, Msg: "only agent tokens are scoped to a node"}
	}
	t, secret, err := s.newToken(r.Role, r.Name, "")
	if err != nil {
		return Token{}, "", err
	}
	t.Node = r.Node
	if !r.ExpiresAt.IsZero() {
		t.ExpiresAt = r.ExpiresAt.UTC().Truncate(time.Microsecond)
		if !t.ExpiresAt.After(t.CreatedAt) {
			return Token{}, "", &fleet.InputError{Pos: fleet.Position{Field: "expires_at"},
				Msg: fmt.Sprintf("%s is not in the future (now %s)", t.ExpiresAt.Format(time.RFC3339), t.CreatedAt.Format(time.RFC3339))}
		}
	}
	if err := s.store.CreateToken(ctx, t); err != nil {
		return Token{}, "", err
	}
	return t, secret, nil
}

// CreateToken makes a token with role and name that does not expire and
// returns the secret, which is shown only now.
// An agent token needs a node: use CreateAgentToken.
func (s *Service) CreateToken(ctx context.Context, role Role, name string) (Token, string, error) {
	if role == RoleAgent {
		return Token{}, "", &fleet.InputError{Pos: fleet.Position{Field: "node"}, Msg: "an agent token is for one node: give its hostname"}
	}
	return s.IssueToken(ctx, TokenRequest{Role: role, Name: name})
}

// CreateAgentToken makes a token that may only report the hardware of node
// (a hostname) and returns the secret, which is shown only now.
func (s *Service) CreateAgentToken(ctx context.Context, node, name string) (Token, string, error) {
	return s.IssueToken(ctx, TokenRequest{Role: RoleAgent, Name: name, Node: node})
}

func (s *Service) newToken(role Role, name, secret string) (Token, string, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return Token{}, "", err
	}
	if msg := fleet.CheckText(name, MaxTokenNameBytes); msg != "" {
		return Token{}, "", &fleet.InputError{Pos: fleet.Position{Field: "name"}, Msg: "token name " + msg}
	}
	var idb [6]byte
	if _, err := io.ReadFull(s.random, idb[:]); err != nil {
		return Token{}, "", err
	}
	if secret == "" {
		var sb [20]byte
		if _, err := io.ReadFull(s.random, sb[:]); err != nil {
			return Token{}, "", err
		}
		secret = TokenPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sb[:]))
	}
	t := Token{ID: "tok_" + hex.EncodeToString(idb[:]), Name: name, Role: role, Hash: HashSecret(secret), CreatedAt: s.clock()}
	return t, secret, nil
}

// MinBootstrapSecret is the shortest secret Bootstrap accepts: 16
// characters (the generated ones have 32 random base32 characters).
const MinBootstrapSecret = 16

// Bootstrap makes the first admin token when the store has none. With a
// non-empty secret (GRANARY_BOOTSTRAP_TOKEN) that value becomes the token;
// otherwise one is generated. It returns the secret and created=true only
// if it made the token; on a store that already has tokens it does nothing.
// A secret with spaces or control characters, or shorter than
// MinBootstrapSecret, wraps fleet.ErrInvalid.
func (s *Service) Bootstrap(ctx context.Context, secret string) (Token, string, bool, error) {
	if secret != "" && (len(secret) < MinBootstrapSecret || strings.ContainsFunc(secret, unicode.IsSpace) || fleet.CheckText(secret, 256) != "") {
		return Token{}, "", false, fmt.Errorf("%w: GRANARY_BOOTSTRAP_TOKEN must be %d to 256 printable characters without spaces", fleet.ErrInvalid, MinBootstrapSecret)
	}
	t, secret, err := s.newToken(RoleAdmin, "bootstrap", secret)
	if err != nil {
		return Token{}, "", false, err
	}
	ok, err := s.store.CreateFirstToken(ctx, t)
	if err != nil || !ok {
		return Token{}, "", false, err
	}
	return t, secret, true, nil
}

// Authenticate returns the token whose secret this is and records its use
// (at most once per TouchEvery). An empty, unknown, revoked or expired
// secret wraps fleet.ErrUnauthorized.
func (s *Service) Authenticate(ctx context.Context, secret string) (Token, error) {
	if secret == "" {
		return Token{}, fmt.Errorf("%w: no token", fleet.ErrUnauthorized)
	}
	t, err := s.store.TokenByHash(ctx, HashSecret(secret))
	if errors.Is(err, fleet.ErrNotFound) {
		return Token{}, fmt.Errorf("%w: unknown token", fleet.ErrUnauthorized)
	}
	if err != nil {
		return Token{}, err
	}
	now := s.clock()
	switch t.State(now) {
	case TokenRevoked:
		return Token{}, fmt.Errorf("%w: token %s was revoked at %s", fleet.ErrUnauthorized, t.ID, t.RevokedAt.Format(time.RFC3339))
	case TokenExpired:
		return Token{}, fmt.Errorf("%w: token %s expired at %s", fleet.ErrUnauthorized, t.ID, t.ExpiresAt.Format(time.RFC3339))
	}
	if t.LastUsedAt.IsZero() || now.Sub(t.LastUsedAt) >= TouchEvery {
		if err := s.store.TouchToken(ctx, t.ID, now, TouchEvery); err != nil {
			return Token{}, err
		}
		t.LastUsedAt = now
	}
	return t, nil
}

// Tokens lists every token (without secrets).
func (s *Service) Tokens(ctx context.Context) ([]Token, error) { return s.store.Tokens(ctx) }

// RevokeToken makes a token stop authenticating from now on; it stays
// listed as revoked. Revoking a revoked token changes nothing.
func (s *Service) RevokeToken(ctx context.Context, id string) error {
	return s.store.RevokeToken(ctx, id, s.clock())
}

// DeleteToken removes a token by ID: it stops authenticating and is no
// longer listed.
func (s *Service) DeleteToken(ctx context.Context, id string) error {
	return s.store.DeleteToken(ctx, id)
}
