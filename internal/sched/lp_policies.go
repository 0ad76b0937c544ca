package sched

import (
	"errors"
)

var errNotYet = errors.New("policy not implemented yet")

type lasPolicy struct{ hetero bool }

func (p *lasPolicy) Name() string {
	if p.hetero {
		return LASHetero
	}
	return LAS
}
func (p *lasPolicy) Allocate(s *Snapshot, tp *Throughputs) (Allocation, error) {
	return Allocation{}, errNotYet
}

type ftfPolicy struct{ hetero bool }

func newFTF(hetero bool) *ftfPolicy { return &ftfPolicy{hetero: hetero} }
func (p *ftfPolicy) Name() string {
	if p.hetero {
		return FTFHetero
	}
	return FTF
}
func (p *ftfPolicy) Allocate(s *Snapshot, tp *Throughputs) (Allocation, error) {
	return Allocation{}, errNotYet
}

type makespanPolicy struct{ hetero bool }

func (p *makespanPolicy) Name() string {
	if p.hetero {
		return MakespanHetero
	}
	return Makespan
}
func (p *makespanPolicy) Allocate(s *Snapshot, tp *Throughputs) (Allocation, error) {
	return Allocation{}, errNotYet
}

type maxThroughputPolicy struct{ cost map[string]float64 }

func (p *maxThroughputPolicy) Name() string {
	if p.cost != nil {
		return MaxThroughputPerCost
	}
	return MaxThroughput
}
func (p *maxThroughputPolicy) Allocate(s *Snapshot, tp *Throughputs) (Allocation, error) {
	return Allocation{}, errNotYet
}
