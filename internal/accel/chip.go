// Package accel is Granary's accelerator catalog: sourced specifications of
// every chip it knows (embedded), user overrides, and the resolution of the
// names people and Kubernetes use for them ("H800", "NVIDIA-H800", "910B3")
// to stable ids. It is pure: loading a user's file takes its bytes, not a path.
package accel

import (
	"github.com/granaryhq/granary/internal/fleet"
)

// Chip is one accelerator model. A nil pointer or an absent map key means
// "unknown" — never zero. Throughputs are dense (no sparsity).
type Chip struct {
	ID         string   `json:"id" yaml:"id"`     // stable, e.g. "h800-sxm5-80gb"
	Name       string   `json:"name" yaml:"name"` // display name
	Vendor     string   `json:"vendor,omitempty" yaml:"vendor,omitempty"`
	Origin     string   `json:"origin,omitempty" yaml:"origin,omitempty"` // country of the designer: "US", "CN"
	Aliases    []string `json:"aliases,omitempty" yaml:"aliases,omitempty"`
	Year       *int     `json:"year,omitempty" yaml:"year,omitempty"`
	FormFactor string   `json:"form_factor,omitempty" yaml:"form_factor,omitempty"`
	// Datacenter: designed or marketed for datacenters (Note 2 to 3A090).
	Datacenter *bool `json:"datacenter,omitempty" yaml:"datacenter,omitempty"`
	// TOPS maps a precision to dense TFLOPS (floating point) or TOPS (integer).
	TOPS map[fleet.Precision]float64 `json:"tops,omitempty" yaml:"tops,omitempty"`

	MemoryGB       *float64 `json:"memory_gb,omitempty" yaml:"memory_gb,omitempty"`
	MemoryType     string   `json:"memory_type,omitempty" yaml:"memory_type,omitempty"`
	MemoryBWGBps   *float64 `json:"memory_bw_gbs,omitempty" yaml:"memory_bw_gbs,omitempty"`       // GB/s
	Interconnect   string   `json:"interconnect,omitempty" yaml:"interconnect,omitempty"`         // chip-to-chip link name
	InterconnectGB *float64 `json:"interconnect_gbs,omitempty" yaml:"interconnect_gbs,omitempty"` // chip-to-chip GB/s
	// IOBandwidthGBps is the aggregate bidirectional I/O to other ICs (2022 rule).
	IOBandwidthGBps *float64 `json:"io_bandwidth_gbs,omitempty" yaml:"io_bandwidth_gbs,omitempty"`
	IOBandwidthNote string   `json:"io_bandwidth_source,omitempty" yaml:"io_bandwidth_source,omitempty"`
	TDPW            *float64 `json:"tdp_w,omitempty" yaml:"tdp_w,omitempty"`
	DieAreaMM2      *float64 `json:"die_area_mm2,omitempty" yaml:"die_area_mm2,omitempty"`
	CostUSD         *float64 `json:"cost_usd,omitempty" yaml:"cost_usd,omitempty"` // indicative unit price
	Confidence      string   `json:"confidence,omitempty" yaml:"confidence,omitempty"`
	UncertainFields []string `json:"uncertain_fields,omitempty" yaml:"uncertain_fields,omitempty"`
	Source          string   `json:"source,omitempty" yaml:"source,omitempty"`
	Notes           string   `json:"notes,omitempty" yaml:"notes,omitempty"`
}

// Dense returns the dense throughput at p in TFLOPS/TOPS and whether it is known.
func (c Chip) Dense(p fleet.Precision) (float64, bool) {
	v, ok := c.TOPS[p]
	return v, ok
}

// Dense16 returns the best known 16-bit dense rate (bf16, else fp16).
func (c Chip) Dense16() (float64, bool) {
	if v, ok := c.TOPS[fleet.BF16]; ok {
		return v, true
	}
	v, ok := c.TOPS[fleet.FP16]
	return v, ok
}

// Domestic reports whether the chip is designed in China (not subject to
// US export licensing of new supply).
func (c Chip) Domestic() bool { return c.Origin == "CN" }

// Float returns a pointer to v, for building chips in code and tests.
func Float(v float64) *float64 { return &v }

// Bool returns a pointer to v.
func Bool(v bool) *bool { return &v }
