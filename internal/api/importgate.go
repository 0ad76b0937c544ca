package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// importGate admits bulk imports (issue 16: a 200,000-row CSV peaked at
// 635 MB, and nothing bounded how many such uploads were read at once).
// The import's body is not buffered: the ledger parses it as it arrives,
// so what an import holds is its parsed rows. What the gate bounds is the
// bytes of import bodies in flight: an import is counted at its declared
// Content-Length (at the limit when it declares none, as a chunked upload),
// and one that would pass the budget is refused with 429 and Retry-After
// before a byte of it is read; one that declares more than the limit is a
// 413, also before reading. A body that turns out longer than the limit
// stops the import with 413 when the limit is passed.
type importGate struct {
	max, budget int64 // per body; all bodies in flight
	readTimeout time.Duration

	mu     sync.Mutex
	flying int64
}

func newImportGate(limit, budget int64) *importGate {
	return &importGate{max: limit, budget: max(budget, limit), readTimeout: 2 * time.Minute}
}

type importBodyKey struct{}

// admit is the import operation's middleware (after authentication).
func (g *importGate) admit(ctx huma.Context, next func(huma.Context)) {
	n := g.max
	if v, err := strconv.ParseInt(ctx.Header("Content-Length"), 10, 64); err == nil && v >= 0 {
		n = v
	}
	if n > g.max {
		writeProblemCtx(ctx, newProblem(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("request body is too large: %d bytes declared, the limit is %d", n, g.max)))
		return
	}
	g.mu.Lock()
	ok := g.flying+n <= g.budget
	if ok {
		g.flying += n
	}
	flying := g.flying
	g.mu.Unlock()
	if !ok {
		ctx.SetHeader("Retry-After", "10")
		writeProblemCtx(ctx, newProblem(http.StatusTooManyRequests,
			fmt.Sprintf("imports of %d bytes are being read; this one (%d bytes, counted at the %d-byte limit when it gives no Content-Length) would pass the budget of %d bytes: retry when they are done",
				flying, n, g.max, g.budget)))
		return
	}
	defer func() {
		g.mu.Lock()
		g.flying -= n
		g.mu.Unlock()
	}()
	ctx.SetReadDeadline(time.Now().Add(g.readTimeout))
	next(huma.WithValue(ctx, importBodyKey{}, &limitedBody{r: ctx.BodyReader(), left: g.max}))
}

// importBody is the body admit let through.
func importBody(ctx context.Context) io.Reader {
	if b, ok := ctx.Value(importBodyKey{}).(io.Reader); ok {
		return b
	}
	return eofReader{}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// errBodyTooLarge is the read error past an import's limit.
var errBodyTooLarge = errors.New("request body too large")

// limitedBody reads at most left bytes, then fails with errBodyTooLarge.
type limitedBody struct {
	r    io.Reader
	left int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return 0, errBodyTooLarge
	}
	return n, err
}

// bodyProblem is the problem of an import stopped by its body: too large
// (413), too slow (408), or a JSON key twice (422: uniqueKeys writes the
// details); nil for anything else.
func bodyProblem(err error, limit int64) *Problem {
	var ne net.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errBodyTooLarge):
		return newProblem(http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is too large: the limit is %d bytes; nothing was imported", limit))
	case errors.Is(err, errDuplicateKey):
		return newProblem(http.StatusUnprocessableEntity, "duplicate key in the JSON body; nothing was imported")
	case errors.As(err, &ne) && ne.Timeout():
		return newProblem(http.StatusRequestTimeout, "reading the request body timed out; nothing was imported")
	}
	return nil
}
