package web

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"github.com/granaryhq/granary/internal/inventory"
)

// nodesQuery is the nodes list's filter, from the URL: a site (site; given
// and empty, the nodes with no site), the cursor (after, a hostname) and
// the page size (limit).
type nodesQuery struct {
	Site   string
	BySite bool // site was given (possibly empty)
	After  string
	Limit  int
}

func parseNodesQuery(v url.Values) (nodesQuery, error) {
	q := nodesQuery{Site: v.Get("site"), BySite: v.Has("site"), After: v.Get("after"), Limit: inventory.DefaultPageSize}
	if err := parseLimit(v, &q.Limit); err != nil {
		return q, err
	}
	return q, nil
}

func (q nodesQuery) url(after string) string {
	v := url.Values{}
	if q.BySite {
		v.Set("site", q.Site)
	}
	if after != "" {
		v.Set("after", after)
	}
	if q.Limit != inventory.DefaultPageSize {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if len(v) == 0 {
		return "/nodes"
	}
	return "/nodes?" + v.Encode()
}

// nodesURL is the nodes list of one site ("" for the nodes with no site).
func nodesURL(site string) string {
	return nodesQuery{Site: site, BySite: true, Limit: inventory.DefaultPageSize}.url("")
}

type nodesPage struct {
	Query       nodesQuery
	Sites       []siteCount // every site with its nodes, for the site links
	All         int         // nodes at every site
	Nodes       []inventory.Node
	Total       int // nodes matching the filter
	First, Next string
}

// nodesPage lists the nodes, by hostname, of one site or of all, paged
// with a hostname cursor. The fleet page's nodes per site count the same
// list (the ledger's Nodes), so each links here and equals "N nodes
// match".
func (h *Handler) nodesPage(w http.ResponseWriter, r *http.Request) {
	if h.require(w, r, inventory.RoleViewer) == nil {
		return
	}
	q, err := parseNodesQuery(r.URL.Query())
	if err != nil {
		h.problem(w, r, http.StatusBadRequest, err.Error(), nil)
		return
	}
	all, err := h.led.Nodes(r.Context())
	if err != nil {
		h.problem(w, r, http.StatusInternalServerError, "The nodes are not available right now.", err)
		return
	}
	pg := nodesPage{Query: q, Sites: sitesOf(all), All: len(all)}
	var match []inventory.Node
	for _, n := range all {
		if !q.BySite || n.Site == q.Site {
			match = append(match, n)
		}
	}
	sort.Slice(match, func(i, j int) bool { return match[i].Hostname < match[j].Hostname }) // the store's order, made sure
	pg.Total = len(match)
	i := sort.Search(len(match), func(i int) bool { return q.After == "" || match[i].Hostname > q.After })
	pg.Nodes = match[i:min(len(match), i+q.Limit)]
	if i+q.Limit < len(match) {
		pg.Next = q.url(pg.Nodes[len(pg.Nodes)-1].Hostname)
	}
	if q.After != "" {
		pg.First = q.url("")
	}
	sub := "Every site"
	if q.BySite {
		sub = "Site " + q.Site
		if q.Site == "" {
			sub = "No site"
		}
	}
	h.render(w, r, http.StatusOK, "nodes.html", view{Title: "Nodes", Nav: "devices", Sub: sub + ", ordered by hostname", Body: pg})
}

// parseLimit sets *limit from the query's page size ("limit", 1 to
// inventory.MaxPageSize), when it has one.
func parseLimit(v url.Values, limit *int) error {
	l := v.Get("limit")
	if l == "" {
		return nil
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 || n > inventory.MaxPageSize {
		return fmt.Errorf("limit %q is not a page size (1 to %d)", l, inventory.MaxPageSize)
	}
	*limit = n
	return nil
}
