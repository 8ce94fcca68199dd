// Command compose-config checks a docker-compose file the way `docker compose config` does, without a
// Docker engine: it loads it with compose-go (the library Docker Compose itself uses), which validates
// it against the Compose Specification JSON schema, interpolates variables, and checks that services,
// networks, volumes and dependencies refer to things that exist. It prints the normalised model as YAML
// and exits non-zero with the loader's message when the file is invalid.
//
//	compose-config [-profile NAME]... [-format yaml|json] FILE...
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var profiles listFlag
	flag.Var(&profiles, "profile", "enable a profile (repeatable; '*' enables all)")
	name := flag.String("project-name", "", "project name (default: the directory of the first file)")
	format := flag.String("format", "yaml", "output format: yaml or json")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: compose-config [-profile NAME]... [-format yaml|json] FILE...")
		os.Exit(2)
	}
	opts := []cli.ProjectOptionsFn{cli.WithOsEnv, cli.WithDotEnv, cli.WithProfiles(profiles)}
	if *name != "" {
		opts = append(opts, cli.WithName(*name))
	}
	options, err := cli.NewProjectOptions(flag.Args(), opts...)
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	var out []byte
	switch *format {
	case "yaml":
		out, err = project.MarshalYAML()
	case "json":
		out, err = project.MarshalJSON()
	default:
		err = fmt.Errorf("unknown -format %q", *format)
	}
	if err != nil {
		fail(err)
	}
	_, _ = os.Stdout.Write(out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "invalid compose file:", err)
	os.Exit(1)
}
