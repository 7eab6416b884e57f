// Command promqlselectors reads a JSON array of PromQL expressions on stdin and prints, for
// each, the vector selectors in it (metric name and label matchers), parsed by the same
// Prometheus parser promtool uses, so the tests never guess at PromQL syntax.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

type matcher struct {
	Label string `json:"label"`
	Op    string `json:"op"`
	Value string `json:"value"`
}

type selector struct {
	Metric   string    `json:"metric"`
	Matchers []matcher `json:"matchers"`
}

type result struct {
	Expr      string     `json:"expr"`
	Error     string     `json:"error,omitempty"`
	Selectors []selector `json:"selectors"`
}

func main() {
	var exprs []string
	if err := json.NewDecoder(os.Stdin).Decode(&exprs); err != nil {
		fmt.Fprintln(os.Stderr, "stdin must be a JSON array of strings:", err)
		os.Exit(2)
	}
	p := parser.NewParser(parser.Options{})
	results := make([]result, 0, len(exprs))
	for _, expr := range exprs {
		results = append(results, inspect(p, expr))
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func inspect(p parser.Parser, expr string) result {
	out := result{Expr: expr, Selectors: []selector{}}
	ast, err := p.ParseExpr(expr)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	var problems []error
	parser.Inspect(ast, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		sel := selector{Metric: vs.Name, Matchers: []matcher{}}
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName {
				// A name given as {__name__=~"..."} would match metrics nobody can check.
				if m.Type != labels.MatchEqual {
					problems = append(problems, fmt.Errorf("%s: metric name by %s", vs, m.Type))
				}
				sel.Metric = m.Value
				continue
			}
			sel.Matchers = append(sel.Matchers, matcher{m.Name, m.Type.String(), m.Value})
		}
		if sel.Metric == "" {
			problems = append(problems, fmt.Errorf("%s: selector without a metric name", vs))
		}
		out.Selectors = append(out.Selectors, sel)
		return nil
	})
	if len(problems) > 0 {
		out.Error = errors.Join(problems...).Error()
	}
	return out
}
