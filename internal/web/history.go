package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
)

// dayQuery is the devices-on-a-day list's filter, from the URL: a UTC day
// (day, YYYY-MM-DD), a state, the cursor (after) and the page size (limit).
type dayQuery struct {
	Day   time.Time
	State fleet.DeviceState
	After string
	Limit int
}

func parseDayQuery(v url.Values) (dayQuery, error) {
	q := dayQuery{After: v.Get("after"), Limit: inventory.DefaultPageSize}
	d, err := time.Parse(time.DateOnly, v.Get("day"))
	if err != nil {
		return q, fmt.Errorf("day %q is not a date (YYYY-MM-DD, a UTC day)", v.Get("day"))
	}
	q.Day = d
	if q.State, err = fleet.ParseDeviceState(v.Get("state")); err != nil {
		return q, err
	}
	if err := parseLimit(v, &q.Limit); err != nil {
		return q, err
	}
	return q, nil
}

// dayURL is the list of the devices in state st at the end of day (UTC).
func dayURL(day time.Time, st fleet.DeviceState) string {
	return dayQuery{Day: day, State: st, Limit: inventory.DefaultPageSize}.url("")
}

func (q dayQuery) url(after string) string {
	v := url.Values{"day": {q.Day.Format(time.DateOnly)}, "state": {string(q.State)}}
	if after != "" {
		v.Set("after", after)
	}
	if q.Limit != inventory.DefaultPageSize {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return "/history?" + v.Encode()
}

// filter is the ledger's filter: the events before the day's end.
func (q dayQuery) filter() inventory.StateAtFilter {
	return inventory.StateAtFilter{Before: q.Day.AddDate(0, 0, 1), State: q.State, After: q.After, Limit: q.Limit}
}

type dayPage struct {
	Query       dayQuery
	Day         string
	States      []fleet.DeviceState
	Events      []inventory.Event // each device's last event before the day's end
	Total       int
	LastSerial  string // the page's last device
	First, Next string
	Now         string // the devices in the state today
}

// historyPage lists the devices that were in a state at the end of a UTC
// day, as the ledger's events tell it (inventory.StateAtFilter): the list
// behind each number of the fleet page's per-day chart.
func (h *Handler) historyPage(w http.ResponseWriter, r *http.Request) {
	if h.require(w, r, inventory.RoleViewer) == nil {
		return
	}
	q, err := parseDayQuery(r.URL.Query())
	if err != nil {
		h.problem(w, r, http.StatusBadRequest, err.Error(), nil)
		return
	}
	ctx := r.Context()
	// One more than a page tells whether there is a next page.
	f := q.filter()
	f.Limit++
	evs, err := h.led.StateAt(ctx, f)
	if errors.Is(err, fleet.ErrInvalid) {
		h.problem(w, r, http.StatusBadRequest, err.Error(), nil)
		return
	}
	pg := dayPage{Query: q, Day: q.Day.Format(time.DateOnly), States: fleet.DeviceStates, Events: evs, Total: len(evs),
		Now: devicesQuery{State: string(q.State), Limit: inventory.DefaultPageSize}.url("")}
	if len(evs) > q.Limit {
		pg.Events = evs[:q.Limit]
		pg.Next = q.url(pg.Events[q.Limit-1].Serial)
	}
	if len(pg.Events) > 0 {
		pg.LastSerial = pg.Events[len(pg.Events)-1].Serial
	}
	// The first page without a next one is the whole list: its length is
	// the count. Otherwise the store counts.
	if err == nil && (q.After != "" || pg.Next != "") {
		pg.Total, err = h.led.CountStateAt(ctx, q.filter())
	}
	if err != nil {
		h.problem(w, r, http.StatusInternalServerError, "The ledger's history is not available right now.", err)
		return
	}
	if q.After != "" {
		pg.First = q.url("")
	}
	h.render(w, r, http.StatusOK, "history.html", view{Title: "Devices " + string(q.State) + " on " + pg.Day, Nav: "fleet",
		Sub: "At the end of " + pg.Day + " (UTC), from the ledger's events", Body: pg})
}
