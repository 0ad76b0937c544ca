package api

// RoutePatterns returns every pattern the handler New(o) builds registers
// on its mux.
func RoutePatterns(o Options) ([]string, error) {
	_, mux, err := build(o)
	if err != nil {
		return nil, err
	}
	return mux.patterns, nil
}

// UniqueKeys is uniqueKeys, for the test of its read deadline.
var UniqueKeys = uniqueKeys
