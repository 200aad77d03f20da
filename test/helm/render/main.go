// Command render renders a Helm chart directory the way `helm template` does, with Go's
// text/template and sprig, so the chart is tested where Helm cannot be installed.
//
//	render [--name R] [--namespace NS] [-f values.yaml]... [--set-json 'a.b\.c=JSON']...
//	       [--api-versions GROUP/VERSION]... [--kube-version v1.30.0] [--lookup objects.yaml]
//	       [--is-upgrade] [--notes] CHART_DIR
//
// What Helm does that matters for a chart's correctness is reproduced: values files load as
// JSON-compatible data (every number a float64, as sigs.k8s.io/yaml gives Helm, so a template
// comparing `gt .Values.n 1` fails here as it fails there), subchart values are scoped and
// defaulted, named templates are shared by every chart, `<no value>` renders as nothing, and
// templates whose name starts with `_` only define. Not reproduced: .helmignore, packed (.tgz)
// subcharts, dependency conditions and tags, schema validation, and the kind-based install
// order (documents come out sorted by template path).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

type values = map[string]interface{}

// Metadata is Chart.yaml; templates read it as .Chart with Helm's capitalised field names.
type Metadata struct {
	APIVersion   string        `yaml:"apiVersion"`
	Name         string        `yaml:"name"`
	Version      string        `yaml:"version"`
	AppVersion   string        `yaml:"appVersion"`
	Description  string        `yaml:"description"`
	Type         string        `yaml:"type"`
	Dependencies []*Dependency `yaml:"dependencies"`
}

type Dependency struct {
	Name       string `yaml:"name"`
	Version    string `yaml:"version"`
	Repository string `yaml:"repository"`
	Alias      string `yaml:"alias"`
}

type chart struct {
	Meta     *Metadata
	dir      string
	key      string // where the parent's values scope it: the alias or the name
	path     string // template name prefix, e.g. consumer/charts/chaperone
	defaults values
	subs     []*chart
}

// Files is .Files: chart files read by path relative to the chart directory.
type Files struct{ dir string }

func (f Files) GetBytes(name string) []byte {
	clean := path.Clean("/" + name)[1:]
	b, err := os.ReadFile(filepath.Join(f.dir, filepath.FromSlash(clean)))
	if err != nil {
		return nil // Helm answers "" for a file that is not in the chart
	}
	return b
}

func (f Files) Get(name string) string { return string(f.GetBytes(name)) }

type KubeVersion struct{ Version, Major, Minor string }

func (k KubeVersion) String() string { return k.Version }

type VersionSet []string

func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
}

// What a cluster without CRDs serves; CRD groups come from --api-versions, as with helm template -a.
var builtinAPIVersions = []string{
	"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1",
	"rbac.authorization.k8s.io/v1", "admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1",
	"coordination.k8s.io/v1", "discovery.k8s.io/v1", "storage.k8s.io/v1", "scheduling.k8s.io/v1",
	"certificates.k8s.io/v1", "events.k8s.io/v1", "node.k8s.io/v1",
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func run() error {
	var valueFiles, setJSON, apiVersions listFlag
	name := flag.String("name", "release-name", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	kubeVersion := flag.String("kube-version", "v1.30.0", "Kubernetes version for .Capabilities")
	lookupFile := flag.String("lookup", "", "YAML documents that lookup finds (default: lookup finds nothing, as in helm template)")
	isUpgrade := flag.Bool("is-upgrade", false, "render as an upgrade (.Release.IsUpgrade, revision 2)")
	notes := flag.Bool("notes", false, "print the rendered NOTES.txt instead of the manifests")
	flag.Var(&valueFiles, "f", "values file (repeatable; later files win)")
	flag.Var(&valueFiles, "values", "same as -f")
	flag.Var(&setJSON, "set-json", "path.to.key=JSON (repeatable; wins over files)")
	flag.Var(&apiVersions, "api-versions", "extra API version for .Capabilities.APIVersions (repeatable)")
	flag.Parse()
	// Flags may follow the chart directory too, as with helm.
	var positional []string
	for args := flag.Args(); len(args) > 0; args = flag.Args() {
		positional = append(positional, args[0])
		if err := flag.CommandLine.Parse(args[1:]); err != nil {
			return err
		}
	}
	if len(positional) != 1 {
		return errors.New("usage: render [flags] CHART_DIR")
	}

	root, err := loadChart(positional[0], "", "")
	if err != nil {
		return err
	}
	user := values{}
	for _, f := range valueFiles {
		v, err := readValues(f)
		if err != nil {
			return err
		}
		user = merge(user, v)
	}
	for _, s := range setJSON {
		k, j, ok := strings.Cut(s, "=")
		var v interface{}
		if !ok || json.Unmarshal([]byte(j), &v) != nil {
			return fmt.Errorf("--set-json %q: expected path.to.key=JSON", s)
		}
		for i := splitPath(k); len(i) > 0; i = i[:len(i)-1] {
			v = values{i[len(i)-1]: v}
		}
		user = merge(user, v.(values))
	}
	scoped := map[*chart]values{}
	coalesce(root, merge(root.defaults, user), scoped)

	major, minor := kubeMajorMinor(*kubeVersion)
	var lookups []values
	if *lookupFile != "" {
		if lookups, err = readDocuments(*lookupFile); err != nil {
			return err
		}
	}
	revision := 1
	if *isUpgrade {
		revision = 2
	}
	r := &renderer{
		release: values{"Name": *name, "Namespace": *namespace, "Service": "Helm", "IsInstall": !*isUpgrade, "IsUpgrade": *isUpgrade, "Revision": revision},
		caps:    Capabilities{KubeVersion{*kubeVersion, major, minor}, append(VersionSet(builtinAPIVersions), apiVersions...)},
		lookups: lookups,
		scoped:  scoped,
	}
	out, notesText, err := r.render(root)
	if err != nil {
		return err
	}
	if *notes {
		fmt.Print(notesText)
	} else {
		fmt.Print(out)
	}
	return nil
}

// splitPath splits a --set-json path on dots; `\.` is a dot inside a key, as with helm --set.
func splitPath(p string) []string {
	parts := strings.Split(strings.ReplaceAll(p, `\.`, "\x00"), ".")
	for i := range parts {
		parts[i] = strings.ReplaceAll(parts[i], "\x00", ".")
	}
	return parts
}

func kubeMajorMinor(v string) (string, string) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return parts[0], "0"
	}
	return parts[0], parts[1]
}

// loadChart reads Chart.yaml, values.yaml and the subcharts: directories under charts/, and
// dependencies whose repository is file://… (what `helm dependency build` would copy there).
func loadChart(dir, key, parentPath string) (*chart, error) {
	meta := &Metadata{}
	raw, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(raw, meta); err != nil {
		return nil, fmt.Errorf("%s/Chart.yaml: %w", dir, err)
	}
	if meta.Name == "" {
		return nil, fmt.Errorf("%s/Chart.yaml: name is required", dir)
	}
	c := &chart{Meta: meta, dir: dir, key: key, path: meta.Name, defaults: values{}}
	if parentPath != "" {
		c.path = parentPath + "/charts/" + meta.Name
	}
	if _, err := os.Stat(filepath.Join(dir, "values.yaml")); err == nil {
		if c.defaults, err = readValues(filepath.Join(dir, "values.yaml")); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	entries, _ := os.ReadDir(filepath.Join(dir, "charts"))
	for _, e := range entries {
		if !e.IsDir() {
			return nil, fmt.Errorf("%s/charts/%s: only unpacked subcharts are supported", dir, e.Name())
		}
		sub, err := loadChart(filepath.Join(dir, "charts", e.Name()), "", c.path)
		if err != nil {
			return nil, err
		}
		sub.key = sub.Meta.Name
		seen[sub.Meta.Name] = true
		c.subs = append(c.subs, sub)
	}
	for _, d := range meta.Dependencies {
		if seen[d.Name] {
			for _, s := range c.subs {
				if s.Meta.Name == d.Name && d.Alias != "" {
					s.key = d.Alias
				}
			}
			continue
		}
		if !strings.HasPrefix(d.Repository, "file://") {
			return nil, fmt.Errorf("%s: dependency %s is not in charts/ (run helm dependency build)", dir, d.Name)
		}
		key := d.Name
		if d.Alias != "" {
			key = d.Alias
		}
		sub, err := loadChart(filepath.Join(dir, strings.TrimPrefix(d.Repository, "file://")), key, c.path)
		if err != nil {
			return nil, err
		}
		c.subs = append(c.subs, sub)
	}
	return c, nil
}

func readValues(file string) (values, error) {
	docs, err := readDocuments(file)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return values{}, nil
	}
	return docs[0], nil
}

func readDocuments(file string) ([]values, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var docs []values
	for {
		var v interface{}
		if err := dec.Decode(&v); err != nil {
			if errors.Is(err, io.EOF) {
				return docs, nil
			}
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if v == nil {
			continue
		}
		m, ok := jsonish(v).(values)
		if !ok {
			return nil, fmt.Errorf("%s: a document is not a mapping", file)
		}
		docs = append(docs, m)
	}
}

// jsonish turns decoded YAML into what Helm sees after its YAML→JSON→Go round trip:
// string-keyed maps, and float64 for every number.
func jsonish(v interface{}) interface{} {
	switch x := v.(type) {
	case map[string]interface{}:
		for k, e := range x {
			x[k] = jsonish(e)
		}
		return x
	case map[interface{}]interface{}:
		m := values{}
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonish(e)
		}
		return m
	case []interface{}:
		for i, e := range x {
			x[i] = jsonish(e)
		}
		return x
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	}
	return v
}

// merge returns base overridden by over, maps merged key by key; a null in over deletes the key.
func merge(base, over values) values {
	out := values{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if v == nil {
			delete(out, k)
			continue
		}
		bm, bok := out[k].(values)
		om, ook := v.(values)
		if bok && ook {
			out[k] = merge(bm, om)
		} else {
			out[k] = v
		}
	}
	return out
}

// coalesce gives each subchart its values: the parent's values under the subchart's key over the
// subchart's defaults, plus the parent's globals. The parent sees the coalesced map too, as in Helm.
func coalesce(c *chart, vals values, scoped map[*chart]values) {
	scoped[c] = vals
	for _, s := range c.subs {
		own, _ := vals[s.key].(values)
		sv := merge(s.defaults, own)
		if g, ok := vals["global"].(values); ok {
			sg, _ := sv["global"].(values)
			sv["global"] = merge(sg, g)
		}
		vals[s.key] = sv
		coalesce(s, sv, scoped)
	}
}

type tmpl struct {
	name  string // e.g. chaperone/templates/configmap.yaml
	chart *chart
	body  string
}

type renderer struct {
	release values
	caps    Capabilities
	lookups []values
	scoped  map[*chart]values
	set     *template.Template
}

func collect(c *chart, out *[]tmpl) error {
	base := filepath.Join(c.dir, "templates")
	err := filepath.Walk(base, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		body, err := os.ReadFile(p)
		*out = append(*out, tmpl{c.path + "/templates/" + filepath.ToSlash(rel), c, string(body)})
		return err
	})
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	for _, s := range c.subs {
		if err := collect(s, out); err != nil {
			return err
		}
	}
	return nil
}

func isPartial(name string) bool { return strings.HasPrefix(path.Base(name), "_") }

func (r *renderer) render(root *chart) (string, string, error) {
	var all []tmpl
	if err := collect(root, &all); err != nil {
		return "", "", err
	}
	// Helm parses deeper paths first, so a parent chart's define wins over a subchart's.
	sort.Slice(all, func(i, j int) bool {
		di, dj := strings.Count(all[i].name, "/"), strings.Count(all[j].name, "/")
		if di != dj {
			return di > dj
		}
		return all[i].name > all[j].name
	})
	r.set = template.New("gotpl").Option("missingkey=zero").Funcs(r.funcs())
	for _, partialsFirst := range []bool{true, false} {
		for _, t := range all {
			if isPartial(t.name) != partialsFirst {
				continue
			}
			if _, err := r.set.New(t.name).Parse(t.body); err != nil {
				return "", "", err
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	var out, notes strings.Builder
	for _, t := range all {
		if isPartial(t.name) {
			continue
		}
		var buf strings.Builder
		if err := r.set.ExecuteTemplate(&buf, t.name, r.top(t)); err != nil {
			return "", "", err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if strings.HasSuffix(t.name, "/NOTES.txt") {
			if t.chart == root {
				notes.WriteString(text)
			}
			continue
		}
		for _, doc := range splitManifests(text) {
			fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", t.name, doc)
		}
	}
	return out.String(), notes.String(), nil
}

var docSeparator = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

// splitManifests is Helm's: documents split on ---, whitespace-only ones dropped.
func splitManifests(text string) []string {
	var docs []string
	for _, d := range docSeparator.Split(text, -1) {
		if strings.TrimSpace(d) != "" {
			docs = append(docs, strings.TrimSpace(d))
		}
	}
	return docs
}

func (r *renderer) top(t tmpl) values {
	return values{
		"Values":       r.scoped[t.chart],
		"Release":      r.release,
		"Chart":        t.chart.Meta,
		"Capabilities": r.caps,
		"Files":        Files{t.chart.dir},
		"Template":     values{"Name": t.name, "BasePath": t.chart.path + "/templates"},
	}
}

// funcs is Helm's function map: sprig without env/expandenv, plus Helm's own.
func (r *renderer) funcs() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["include"] = func(name string, data interface{}) (string, error) {
		var buf strings.Builder
		err := r.set.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		set, err := r.set.Clone()
		if err != nil {
			return "", err
		}
		t, err := set.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf strings.Builder
		if err := t.Execute(&buf, data); err != nil {
			return "", err
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	f["toYaml"] = toYaml
	f["fromYaml"] = func(s string) values {
		var v interface{}
		if err := yaml.Unmarshal([]byte(s), &v); err != nil {
			return values{"Error": err.Error()}
		}
		m, ok := jsonish(v).(values)
		if !ok {
			return values{}
		}
		return m
	}
	f["toJson"] = func(v interface{}) string {
		b, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(b)
	}
	f["fromJson"] = func(s string) values {
		m := values{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if s, ok := v.(string); v == nil || (ok && s == "") {
			return v, errors.New(msg)
		}
		return v, nil
	}
	f["fail"] = func(msg string) (string, error) { return "", errors.New(msg) }
	f["lookup"] = r.lookup
	return f
}

// toYaml is sigs.k8s.io/yaml's Marshal (through JSON, so whole floats print as integers)
// without the trailing newline, as Helm's toYaml.
func toYaml(v interface{}) string {
	j, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var data interface{}
	if err := dec.Decode(&data); err != nil {
		return ""
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(numbers(data)); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// numbers turns JSON numbers back into int64 where they are whole, float64 otherwise.
func numbers(v interface{}) interface{} {
	switch x := v.(type) {
	case map[string]interface{}:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []interface{}:
		for i, e := range x {
			x[i] = numbers(e)
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// lookup finds objects in the --lookup file; like helm template without a cluster, it finds
// nothing otherwise. An empty name lists, as the API does.
func (r *renderer) lookup(apiVersion, kind, namespace, name string) (values, error) {
	var items []interface{}
	for _, o := range r.lookups {
		md, _ := o["metadata"].(values)
		ns, _ := md["namespace"].(string)
		if o["apiVersion"] != apiVersion || o["kind"] != kind || (namespace != "" && ns != namespace) {
			continue
		}
		if name == "" {
			items = append(items, o)
		} else if md["name"] == name {
			return o, nil
		}
	}
	if name == "" && items != nil {
		return values{"items": items}, nil
	}
	return values{}, nil
}
