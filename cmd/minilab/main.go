// Command minilab runs a small but real Kubernetes networking lab on one
// Linux host: `minilab up`, then kubectl, curl and dig.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/urfave/cli/v2"
)

func main() {
	app := &cli.App{
		Name:  "minilab",
		Usage: "a small but real Kubernetes networking lab on one Linux host",
		Description: "minilab runs a Kubernetes API server, controllers, nodes and pods as network namespaces,\n" +
			"kube-proxy's rules and cluster DNS in one process. Start with `sudo minilab up`.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Value: "minilab", Usage: "lab `NAME`: prefixes its namespaces, links and kubeconfig context; several labs may run side by side"},
			&cli.StringFlag{Name: "data-dir", Usage: "where the lab keeps its state (default /var/lib/minilab/<name>)"},
		},
		Commands: []*cli.Command{upCommand(), downCommand(), statusCommand(), execCommand(), versionCommand(), pauseCommand()},
		ExitErrHandler: func(c *cli.Context, err error) {
			if err == nil {
				return
			}
			code := 1
			if ec, ok := err.(cli.ExitCoder); ok {
				code = ec.ExitCode()
			}
			if msg := err.Error(); msg != "" {
				fmt.Fprintln(os.Stderr, "minilab:", msg)
			}
			os.Exit(code)
		},
		HideHelpCommand: true,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "minilab:", err)
		os.Exit(1)
	}
}

var labNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,11}$`)

// labDirs resolves the lab name and data dir from the global flags. Names
// are short because they prefix Linux interface names (15 characters).
func labDirs(c *cli.Context) (name, dataDir string, err error) {
	name = c.String("name")
	if !labNameRE.MatchString(name) {
		return "", "", fmt.Errorf("invalid --name %q: use 1-12 lower-case letters, digits or '-', starting with a letter", name)
	}
	dataDir = c.String("data-dir")
	if dataDir == "" {
		dataDir = filepath.Join("/var/lib/minilab", name)
	}
	if dataDir, err = filepath.Abs(dataDir); err != nil {
		return "", "", err
	}
	return name, dataDir, nil
}
