// argocd-health runs an Argo CD resource health check (health.lua) the way Argo CD v3.5.8
// does, so that tests see what Argo CD shows and not what another Lua makes of the script.
//
// Argo CD's own package (argo-cd/v3/util/lua) drags in ~1,450 packages (client-go, kubernetes,
// go-git, gRPC, cloud SDKs) for a few dozen lines of set-up, so this builds the same VM from
// the same pieces at the same versions: gopher-lua v1.1.2 and layeh.com/gopher-json, which
// Argo CD's go.mod pins. Each step below names the Argo CD function it follows; keep them in
// step when the pinned Argo CD version moves (util/lua/lua.go, util/lua/oslib_safe.go, and
// gitops-engine pkg/health/health.go).
//
//	argocd-health run  [-open-libs] [-controller] HEALTH_LUA [OBJECT]
//	argocd-health test [-open-libs] [-controller] DIR
//	argocd-health version
//
// run: OBJECT is a YAML or JSON file ("-" or absent: stdin). Prints one JSON object,
// {"status": S, "message": M}, as VM.ExecuteHealthLua returns them (an invalid status reads
// Unknown, a nil or empty table reads "" and ""); when it returns an error, "error": E is
// added and the exit code is 1.
//
// test: DIR holds health.lua and health_test.yaml; each case is run as Argo CD's own
// TestLuaHealthScript runs it (util/lua/health_test.go) and compared the same way. Prints
// {"passed": N, "failed": N, "cases": [...]}; exit 1 when a case fails.
//
// -open-libs: open gopher-lua's standard libraries (string, math, io, the whole os, ...), as
// Argo CD does for its built-in scripts and in TestLuaHealthScript. Without it the script gets
// what an argocd-cm script gets when resource.customizations.useOpenLibs.<group_kind> is unset.
//
// -controller: answer as the application controller does (gitops-engine GetResourceHealth
// with the script as the argocd-cm override for the object's kind): an object with a
// deletionTimestamp reads Progressing "Pending deletion" without running Lua, and a Lua error
// reads Unknown with the error as message (printed, and "error" added).
//
// version: {"argocd": the release followed, "gopherLua": the gopher-lua built in}.
//
// Exit 2: bad arguments or unreadable files (text on stderr).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
	luajson "layeh.com/gopher-json"
	"sigs.k8s.io/yaml"
)

// healthStatus is gitops-engine's health.HealthStatus: the JSON tags matter, since Argo CD
// turns the Lua table into JSON and unmarshals it into this.
type healthStatus struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
}

// Argo CD's isValidHealthStatusCode.
var validStatus = map[string]bool{
	"Unknown": true, "Progressing": true, "Healthy": true,
	"Suspended": true, "Degraded": true, "Missing": true,
}

// The Argo CD release whose util/lua this follows; gopher-lua and gopher-json are pinned in
// go.mod at the versions that release's go.mod requires.
const (
	argoCDVersion = "v3.5.8"
	gopherLua     = "github.com/yuin/gopher-lua"
)

const (
	incorrectReturnType = "expect %s output from Lua script, not %s"
	invalidHealthStatus = "Lua returned an invalid health status"
	hookFinalizer       = "argocd.argoproj.io/hook-finalizer" // gitops-engine hook.HasHookFinalizer
)

// runLua follows VM.runLuaWithResourceActionParameters (no action parameters).
func runLua(obj map[string]any, script string, openLibs bool) (*lua.LState, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: !openLibs})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openSafeOs},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true},
			lua.LString(lib.name)); err != nil {
			panic(err)
		}
	}
	l.PreloadModule(lua.OsLibName, safeOsLoader) // `require("os")`: time and date only
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("actionParams", l.CreateTable(0, 0)) // set for health scripts too
	l.SetGlobal("obj", decodeValue(l, obj))
	err := l.DoString(script)
	// Argo CD drops the Lua stack trace from run-time errors: users see only the message.
	var apiErr *lua.ApiError
	if errors.As(err, &apiErr) && apiErr.Type == lua.ApiErrorRun {
		apiErr.StackTrace = ""
		err = apiErr
	}
	return l, err
}

// executeHealthLua follows VM.ExecuteHealthLua.
func executeHealthLua(obj map[string]any, script string, openLibs bool) (*healthStatus, error) {
	l, err := runLua(obj, script, openLibs)
	if err != nil {
		return nil, err
	}
	returned := l.Get(-1) // the last value the chunk returned
	switch returned.Type() {
	case lua.LTTable:
		data, err := luajson.Encode(returned)
		if err != nil {
			return nil, err
		}
		hs := &healthStatus{}
		if err := json.Unmarshal(data, hs); err != nil {
			// Argo CD means to catch only {} (encoded as []), but its errors.As matches any
			// type error: a non-string status or message also reads as an empty status.
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				return &healthStatus{}, nil
			}
			return nil, err
		}
		if !validStatus[hs.Status] {
			return &healthStatus{Status: "Unknown", Message: invalidHealthStatus}, nil
		}
		return hs, nil
	case lua.LTNil:
		return &healthStatus{}, nil
	}
	return nil, fmt.Errorf(incorrectReturnType, "table", returned.Type().String())
}

// controllerHealth follows gitops-engine health.GetResourceHealth with an argocd-cm override
// (util/lua ResourceHealthOverrides): deletion first, then the script.
func controllerHealth(obj map[string]any, script string, openLibs bool) (*healthStatus, error) {
	meta, _ := obj["metadata"].(map[string]any)
	if deleting(meta) && !hasHookFinalizer(meta) {
		return &healthStatus{Status: "Progressing", Message: "Pending deletion"}, nil
	}
	hs, err := executeHealthLua(obj, script, openLibs)
	if err != nil {
		ns, _ := meta["namespace"].(string)
		name, _ := meta["name"].(string)
		return &healthStatus{Status: "Unknown", Message: err.Error()},
			fmt.Errorf("failed to get resource health for %s/%s: %w", ns, name, err)
	}
	return hs, nil
}

// deleting is unstructured's GetDeletionTimestamp() != nil: a string that parses as a
// non-zero RFC 3339 time.
func deleting(meta map[string]any) bool {
	stamp, _ := meta["deletionTimestamp"].(string)
	t, err := time.Parse(time.RFC3339, stamp)
	return err == nil && !t.IsZero()
}

// hasHookFinalizer is hook.HasHookFinalizer over unstructured's GetFinalizers(), which
// reads no finalizers at all when one of them is not a string.
func hasHookFinalizer(meta map[string]any) bool {
	finalizers, _ := meta["finalizers"].([]any)
	found := false
	for _, f := range finalizers {
		name, ok := f.(string)
		if !ok {
			return false
		}
		found = found || name == hookFinalizer
	}
	return found
}

// decodeValue follows Argo CD's decodeValue: a JSON value as a Lua value. Array items go in
// with Append, which skips nil: [1, null, 2] reaches Lua as {1, 2}.
func decodeValue(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64: // decode gives float64 only; the controller's int64 make the same LNumber
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(decodeValue(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), decodeValue(l, item))
		}
		return tbl
	}
	return lua.LNil
}

// ---------------------------------------------------------------------------------------------
// Argo CD's "safe os" (util/lua/oslib_safe.go): only time and date.

var safeOsFuncs = map[string]lua.LGFunction{"time": osTime, "date": osDate}

// openSafeOs is Argo CD's OpenSafeOs, which registers under the *table* module's name. That
// module is loaded by then, so RegisterModule returns it untouched: no global `os` at all
// without open libs, and with them the global `os` is gopher-lua's whole os library.
func openSafeOs(l *lua.LState) int {
	l.Push(l.RegisterModule(lua.TabLibName, safeOsFuncs))
	return 1
}

// safeOsLoader is what `require("os")` returns, with open libs too: Argo CD's second
// OpenPackage starts package.loaded afresh, forgetting the os library OpenLibs loaded.
func safeOsLoader(l *lua.LState) int {
	l.Push(l.SetFuncs(l.NewTable(), safeOsFuncs))
	return 1
}

func osTime(l *lua.LState) int {
	if l.GetTop() == 0 {
		l.Push(lua.LNumber(time.Now().Unix()))
		return 1
	}
	tbl := l.CheckTable(1)
	field := func(key string, def int) int {
		if n, ok := tbl.RawGetString(key).(lua.LNumber); ok {
			return int(n)
		}
		return def
	}
	t := time.Date(field("year", -1), time.Month(field("month", -1)), field("day", -1),
		field("hour", 12), field("min", 0), field("sec", 0), 0, time.Local) // isdst ignored
	l.Push(lua.LNumber(t.Unix()))
	return 1
}

func osDate(l *lua.LState) int {
	t := time.Now()
	format := "%c"
	if l.GetTop() >= 1 {
		format = l.CheckString(1)
		if strings.HasPrefix(format, "!") {
			t = time.Now().UTC()
			format = strings.TrimLeft(format, "!")
		}
		if l.GetTop() >= 2 {
			t = time.Unix(l.CheckInt64(2), 0) // local time, even after "!": as in Argo CD
		}
		if strings.HasPrefix(format, "*t") {
			ret := l.NewTable()
			for key, n := range map[string]int{
				"year": t.Year(), "month": int(t.Month()), "day": t.Day(), "hour": t.Hour(),
				"min": t.Minute(), "sec": t.Second(), "wday": int(t.Weekday()) + 1, "yday": 0,
			} {
				ret.RawSetString(key, lua.LNumber(n))
			}
			ret.RawSetString("isdst", lua.LFalse)
			l.Push(ret)
			return 1
		}
	}
	l.Push(lua.LString(strftime(t, format)))
	return 1
}

// Argo CD's conversion table, oddities included ("%a" prints "mon", "%x" is a time).
var strftimeLayouts = map[byte]string{
	'a': "mon", 'A': "Monday", 'b': "Jan", 'B': "January", 'c': "02 Jan 06 15:04 MST", 'd': "02",
	'F': "2006-01-02", 'H': "15", 'I': "03", 'm': "01", 'M': "04", 'p': "PM", 'P': "pm", 'S': "05",
	'x': "15/04/05", 'X': "15:04:05", 'y': "06", 'Y': "2006", 'z': "-0700", 'Z': "MST",
}

// strftime does what Argo CD's flagScanner loop does: "%%" is "%", a known flag is formatted,
// "%w" is the weekday number, an unknown flag and a trailing "%" stay as written.
func strftime(t time.Time, format string) string {
	var out strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i == len(format)-1 {
			out.WriteByte(c)
			continue
		}
		i++
		flag := format[i]
		switch layout, ok := strftimeLayouts[flag]; {
		case flag == '%':
			out.WriteByte('%')
		case ok:
			out.WriteString(t.Format(layout))
		case flag == 'w':
			fmt.Fprint(&out, int(t.Weekday()))
		default:
			out.WriteByte('%')
			out.WriteByte(flag)
		}
	}
	return out.String()
}

// ---------------------------------------------------------------------------------------------
// The command line.

// result is what run prints. Status and message are always present (HealthStatus omits empty
// ones), so a caller can tell "" from absent without knowing Go's omitempty.
type result struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Error   string `json:"error,omitempty"`
}

type testCase struct {
	InputPath string  `json:"inputPath"`
	Expected  result  `json:"expected"`
	Actual    *result `json:"actual,omitempty"`
	Error     string  `json:"error,omitempty"`
	Pass      bool    `json:"pass"`
}

type testReport struct {
	Passed int        `json:"passed"`
	Failed int        `json:"failed"`
	Cases  []testCase `json:"cases"`
}

// health_test.yaml as Argo CD's TestStructure reads it (sigs.k8s.io/yaml goes through JSON,
// so field names match case-insensitively, as there).
type testFile struct {
	Tests []struct {
		InputPath    string       `json:"inputPath"`
		HealthStatus healthStatus `json:"healthStatus"`
	} `json:"tests"`
}

type options struct {
	openLibs   bool
	controller bool
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var opts options
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	fs.BoolVar(&opts.openLibs, "open-libs", false, "open gopher-lua's standard libraries")
	fs.BoolVar(&opts.controller, "controller", false, "answer as the application controller does")
	_ = fs.Parse(os.Args[2:])
	args := fs.Args()

	switch os.Args[1] {
	case "run":
		if len(args) < 1 || len(args) > 2 {
			usage()
		}
		objPath := "-"
		if len(args) == 2 {
			objPath = args[1]
		}
		os.Exit(cmdRun(opts, args[0], objPath))
	case "test":
		if len(args) != 1 {
			usage()
		}
		os.Exit(cmdTest(opts, args[0]))
	case "version":
		emit(map[string]string{"argocd": argoCDVersion, "gopherLua": moduleVersion(gopherLua)})
		os.Exit(0)
	}
	usage()
}

func moduleVersion(path string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == path {
				return dep.Version
			}
		}
	}
	return "unknown"
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: argocd-health run [-open-libs] [-controller] HEALTH_LUA [OBJECT|-]\n"+
		"       argocd-health test [-open-libs] [-controller] DIR\n"+
		"       argocd-health version")
	os.Exit(2)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "argocd-health:", err)
	os.Exit(2)
}

func assess(opts options, obj map[string]any, script string) (*healthStatus, error) {
	if opts.controller {
		return controllerHealth(obj, script, opts.openLibs)
	}
	return executeHealthLua(obj, script, opts.openLibs)
}

func cmdRun(opts options, scriptPath, objPath string) int {
	script, err := os.ReadFile(scriptPath)
	if err != nil {
		fail(err)
	}
	var data []byte
	if objPath == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(objPath)
	}
	if err != nil {
		fail(err)
	}
	obj, err := decode(data)
	if err != nil {
		fail(fmt.Errorf("%s: %w", objPath, err))
	}
	hs, err := assess(opts, obj, string(script))
	emit(toResult(hs, err))
	if err != nil {
		return 1
	}
	return 0
}

func cmdTest(opts options, dir string) int {
	script, err := os.ReadFile(filepath.Join(dir, "health.lua"))
	if err != nil {
		fail(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
	if err != nil {
		fail(err)
	}
	var tests testFile
	if err := yaml.Unmarshal(raw, &tests); err != nil {
		fail(fmt.Errorf("health_test.yaml: %w", err))
	}
	report := testReport{Cases: []testCase{}}
	for _, tc := range tests.Tests {
		c := testCase{InputPath: tc.InputPath, Expected: toResult(&tc.HealthStatus, nil)}
		data, err := os.ReadFile(filepath.Join(dir, tc.InputPath))
		var obj map[string]any
		if err == nil {
			obj, err = decode(data)
		}
		if err == nil {
			var hs *healthStatus
			hs, err = assess(opts, obj, string(script))
			actual := toResult(hs, nil)
			c.Actual = &actual
			// TestLuaHealthScript: require.NoError, then assert.Equal(&test.HealthStatus, result).
			c.Pass = err == nil && hs != nil && *hs == tc.HealthStatus
		}
		if err != nil {
			c.Error = err.Error()
		}
		if c.Pass {
			report.Passed++
		} else {
			report.Failed++
		}
		report.Cases = append(report.Cases, c)
	}
	emit(report)
	if report.Failed > 0 {
		return 1
	}
	return 0
}

// decode reads an object as Argo CD's test getObj does, sigs.k8s.io/yaml into a map, or as
// JSON when it is JSON (as the controller gets it): YAML refuses some JSON, such as "\u0000".
// Numbers become float64 either way (the controller's int64 make the same LNumber).
func decode(data []byte) (map[string]any, error) {
	obj := map[string]any{}
	var err error
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		err = json.Unmarshal(data, &obj)
	} else {
		err = yaml.Unmarshal(data, &obj)
	}
	if err != nil {
		return nil, err
	}
	return obj, nil
}

func toResult(hs *healthStatus, err error) result {
	var out result
	if hs != nil {
		out.Status, out.Message = hs.Status, hs.Message
	}
	if err != nil {
		out.Error = err.Error()
	}
	return out
}

func emit(v any) {
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false) // messages are for people: keep "<" and "&" as they are
	if err := enc.Encode(v); err != nil {
		fail(fmt.Errorf("writing the result: %w", err))
	}
}
