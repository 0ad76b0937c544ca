package exportctl_test

import (
	"fmt"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/exportctl"
	"github.com/granaryhq/granary/internal/fleet"
)

func ExampleClassify() {
	// A datacenter chip of 148 dense bf16 TFLOPS on an 814 mm² die: the H20.
	chip := accel.Chip{
		ID: "my-chip", Name: "My chip", Datacenter: accel.Bool(true),
		TOPS:       map[fleet.Precision]float64{fleet.BF16: 148},
		DieAreaMM2: accel.Float(814),
	}
	for _, rs := range exportctl.RuleSets() {
		r := exportctl.Classify(chip, rs)
		fmt.Printf("%s: TPP %v, PD %v → %s\n  %s\n", r.RuleSet, *r.TPP, *r.PerformanceDensity, r.Classification, r.Reason)
	}
	// Output:
	// 2022-10-07: TPP 2368, PD 2.91 → not-3A090
	//   TPP 2368 < 4800
	// 2023-10-17: TPP 2368, PD 2.91 → not-3A090
	//   a.1: TPP 2368 < 4800; a.2: TPP 2368 ≥ 1600 but PD 2.91 < 5.92; b.1: TPP 2368 < 2400; b.2: TPP 2368 ≥ 1600 but PD 2.91 < 3.2
}
