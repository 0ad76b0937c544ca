package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

// Sign-in. The dashboard signs in with an API token (granary token create):
// POST /signin checks it and stores it in the "granary_session" cookie —
// HttpOnly (no script reads it), SameSite=Strict (no other site's request
// carries it), Secure behind TLS, for sessionTTL. Every request re-checks
// the token against the ledger, so a deleted token ends its sessions at
// once. Forms that change state carry a CSRF field derived from the
// session's secret (csrfToken) and are also refused when the browser says
// they come from another origin (http.CrossOriginProtection).
const (
	sessionCookie = "granary_session"
	sessionTTL    = 12 * time.Hour
)

// session is who is signed in, as the templates see it.
type session struct {
	Token inventory.Token
	CSRF  string
}

// Can reports whether the session's role allows role ("viewer", "operator", "admin").
func (s *session) Can(role string) bool { return s != nil && s.Token.Role.Allows(inventory.Role(role)) }

// csrfToken is the CSRF field of a session: a hash of its secret, which a
// page of another origin cannot read or compute.
func csrfToken(secret string) string {
	h := sha256.Sum256([]byte("granary-csrf\x00" + secret))
	return hex.EncodeToString(h[:16])
}

// errSessionGone is a session cookie whose token the ledger no longer knows.
var errSessionGone = errors.New("your session is no longer valid (its token was deleted or is unknown): sign in again")

// sessionOf returns the request's session: nil without a cookie,
// errSessionGone when its token is unknown.
func (h *Handler) sessionOf(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	tok, err := h.led.Authenticate(r.Context(), c.Value)
	if errors.Is(err, fleet.ErrUnauthorized) {
		return nil, errSessionGone
	}
	if err != nil {
		return nil, err
	}
	return &session{Token: tok, CSRF: csrfToken(c.Value)}, nil
}

type sessionKey struct{}

// withSession puts the request's session in its context; a cookie of an
// unknown token is cleared and the page says so where it needs a session.
func (h *Handler) withSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := h.sessionOf(r)
		switch {
		case errors.Is(err, errSessionGone):
			clearCookie(w, r)
			r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, err))
		case err != nil:
			h.problem(w, r, http.StatusInternalServerError, "Signing in is not possible right now.", err)
			return
		case s != nil:
			r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, s))
		}
		next.ServeHTTP(w, r)
	})
}

func sessionFrom(ctx context.Context) *session {
	s, _ := ctx.Value(sessionKey{}).(*session)
	return s
}

// require returns the session when it allows role; otherwise it renders
// why not (401 with a sign-in link, or 403) and returns nil.
func (h *Handler) require(w http.ResponseWriter, r *http.Request, role inventory.Role) *session {
	s := sessionFrom(r.Context())
	if s == nil {
		msg := "This page needs you to sign in with an API token (any role)."
		if role != inventory.RoleViewer {
			msg = "This action needs you to sign in with a token of role " + string(role) + " or higher."
		}
		if err, ok := r.Context().Value(sessionKey{}).(error); ok {
			msg = strings.ToUpper(err.Error()[:1]) + err.Error()[1:] + "."
		}
		h.render(w, r, http.StatusUnauthorized, "signin.html", view{Title: "Sign in", Sub: msg, Body: signinPage{Next: r.URL.RequestURI(), Message: msg}})
		return nil
	}
	if !s.Token.Role.Allows(role) {
		h.problem(w, r, http.StatusForbidden, "This needs role "+string(role)+"; you are signed in with token "+s.Token.ID+" of role "+string(s.Token.Role)+".", nil)
		return nil
	}
	return s
}

// checkForm parses a state-changing form and checks its session, role and
// CSRF field; on failure it has answered and returns nil.
func (h *Handler) checkForm(w http.ResponseWriter, r *http.Request, role inventory.Role) *session {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		h.problem(w, r, http.StatusBadRequest, "The form could not be read.", nil)
		return nil
	}
	s := h.require(w, r, role)
	if s == nil {
		return nil
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.CSRF)) != 1 {
		h.problem(w, r, http.StatusForbidden, "The form has no valid CSRF token (reload the page and try again); nothing was changed.", nil)
		return nil
	}
	return s
}

type signinPage struct {
	Next, Message string
}

func (h *Handler) signinForm(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "signin.html", view{Title: "Sign in", Sub: "With an API token", Body: signinPage{Next: safeNext(r.URL.Query().Get("next"))}})
}

func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		h.problem(w, r, http.StatusBadRequest, "The form could not be read.", nil)
		return
	}
	secret := strings.TrimSpace(r.PostForm.Get("token"))
	next := safeNext(r.PostForm.Get("next"))
	tok, err := h.led.Authenticate(r.Context(), secret)
	if errors.Is(err, fleet.ErrUnauthorized) {
		h.render(w, r, http.StatusUnauthorized, "signin.html", view{Title: "Sign in", Sub: "With an API token",
			Body: signinPage{Next: next, Message: "That token is unknown. Tokens look like gry_…; make one with granary token create --role operator."}})
		return
	}
	if err != nil {
		h.problem(w, r, http.StatusInternalServerError, "Signing in is not possible right now.", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", MaxAge: int(sessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	h.log.InfoContext(r.Context(), "web: signed in", "token", tok.ID, "role", tok.Role)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *Handler) signout(w http.ResponseWriter, r *http.Request) {
	clearCookie(w, r)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

// safeNext keeps a post-sign-in redirect on this site.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || u.IsAbs() || u.Host != "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/"
	}
	return next
}
