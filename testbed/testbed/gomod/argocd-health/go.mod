// Build module for argocd-health, which runs Argo CD resource health checks (health.lua) as
// Argo CD v3.5.8's util/lua does. gopher-lua and gopher-json are pinned at the versions that
// Argo CD release's go.mod requires (and go.yaml.in/yaml/v2 at the one its build resolves).
// Importing Argo CD itself would pull ~1,450 packages (a 7-minute cold build, 73 MB binary).
module reactivejob.local/build/argocd-health

go 1.26.0

require (
	github.com/yuin/gopher-lua v1.1.2
	layeh.com/gopher-json v0.0.0-20190114024228-97fed8db8427
	sigs.k8s.io/yaml v1.6.0
)

require go.yaml.in/yaml/v2 v2.4.4 // indirect
