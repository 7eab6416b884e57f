//go:build tools

// Pins promtool in this module, so `go build` of it uses go.sum's checksums.
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
