package perf

import (
	"math"
	"strconv"

	"github.com/granaryhq/granary/internal/accel"
	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/models"
)

// RateSpec is the workload a throughput-table entry estimates: serving
// (a step is one output token) or training (a step is one optimizer step of
// StepTokens tokens, ZeRO-1, family MFU).
type RateSpec struct {
	Train      bool
	Precision  fleet.Precision
	Input      int     // serving: input tokens per request
	Output     int     // serving: output tokens per request
	SeqLen     int     // training: sequence length
	StepTokens float64 // training: tokens per optimizer step
}

// Rate is one throughput-table estimate: steps/s of the whole gang, 0 when
// the model does not fit (Reason says why).
type Rate struct {
	StepsPerS float64
	Fits      bool
	Reason    string
}

// GangRate estimates steps/s of model m on a gang of gang devices of chip c,
// the way `granary fit matrix` fills its throughput tables: training through
// Train (rounded to 6 significant digits), serving through Search at maximum
// concurrency (rounded to 0.1 token/s). A training model that cannot be
// estimated is a Rate that does not fit with the reason; an invalid serving
// request is an error.
func GangRate(s RateSpec, m models.Model, gang int, c accel.Chip) (Rate, error) {
	if s.Train {
		e, err := Train(TrainRequest{Model: m, Chip: c, Devices: gang, Tokens: s.StepTokens, Precision: s.Precision, SeqLen: s.SeqLen, ZeRO: 1})
		if err != nil {
			return Rate{Reason: err.Error()}, nil
		}
		r := Rate{Fits: e.Fits, Reason: e.Reason}
		if e.Fits {
			r.StepsPerS, _ = strconv.ParseFloat(strconv.FormatFloat(1/e.Seconds, 'g', 6, 64), 64)
		}
		return r, nil
	}
	req := ServeRequest{Model: m, Precision: s.Precision, Input: s.Input, Output: s.Output, Devices: gang}
	if err := req.Validate(); err != nil {
		return Rate{}, err
	}
	plan := Search(req, c)
	r := Rate{Fits: plan.Fits, Reason: plan.Reason}
	if plan.Fits {
		r.StepsPerS = math.Round(plan.OutputTokensPerS*10) / 10
	}
	return r, nil
}
