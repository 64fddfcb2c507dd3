// Command wpsfn is the command-line companion of the wpsfn toolkit: it mints
// client access URLs, sends messages through the REST API, and runs the local
// Web PubSub emulator and development environment.
//
// Each subcommand lives in its own file and registers itself in init.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand. run gets the arguments after the subcommand's
// name and returns an exit code: 0 success, 1 failure, 2 bad usage or configuration.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		usage(stderr)
		return 2
	case args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || (args[0] == "help" && len(args) == 1):
		usage(stdout)
		return 0
	case args[0] == "--version" || args[0] == "-version" || args[0] == "version":
		fmt.Fprintln(stdout, "wpsfn", version())
		return 0
	case args[0] == "help":
		// wpsfn help CMD: that command's usage, on stdout.
		cmd, ok := commands[args[1]]
		if !ok {
			fmt.Fprintf(stderr, "wpsfn: unknown command %q (run 'wpsfn help')\n", args[1])
			return 2
		}
		return cmd.run(ctx, []string{"-h"}, stdout, stdout)
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "wpsfn: unknown command %q (run 'wpsfn help')\n", args[0])
		return 2
	}
	return cmd.run(ctx, args[1:], stdout, stderr)
}

// version is the module version the binary was built from (a tag, or a
// pseudo-version with `go install ...@version`), else the VCS revision.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown version)"
	}
	v := bi.Main.Version
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if (v == "" || v == "(devel)") && rev != "" {
		return "devel " + rev[:min(12, len(rev))] + modified + " " + bi.GoVersion
	}
	if v == "" {
		v = "(devel)"
	}
	return v + " " + bi.GoVersion
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: wpsfn <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'wpsfn help <command>' for a command's flags; 'wpsfn --version' prints the version.")
}

// printFlags prints fs's flags as PrintDefaults does, each spelt with two
// dashes as the usage lines, the README and the error messages spell them
// (Go's flag package takes both).
func printFlags(fs *flag.FlagSet) {
	var b strings.Builder
	out := fs.Output()
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(out)
	fmt.Fprint(out, strings.ReplaceAll("\n"+b.String(), "\n  -", "\n  --")[1:])
}

// parseFlags parses a subcommand's flags, which take no positional
// arguments. It returns -1 to go on, or the exit code to return at once:
// 0 after -h (the usage printed), 2 for a bad flag or an unexpected
// argument, said in one line with a hint instead of the whole usage.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) int {
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usage
	hint := fmt.Sprintf("run 'wpsfn help %s'", strings.TrimPrefix(fs.Name(), "wpsfn "))
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return 0
	case err != nil:
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
			msg = "unknown flag --" + strings.TrimPrefix(name, "-")
		}
		fmt.Fprintf(stderr, "%s: %s (%s)\n", fs.Name(), msg, hint)
		return 2
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "%s: unexpected argument %q (flags only; %s)\n", fs.Name(), fs.Arg(0), hint)
		return 2
	}
	return -1
}
