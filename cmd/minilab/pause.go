package main

import (
	"github.com/urfave/cli/v2"

	"github.com/minilab/minilab/nodes"
)

// pauseCommand is a pod's pause process (see nodes.Pause); the kubelet
// starts it, users never do.
func pauseCommand() *cli.Command {
	return &cli.Command{
		Name:   "pause",
		Hidden: true,
		Usage:  "hold a pod's namespaces (started by the node agent)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "hostname", Required: true},
			&cli.StringFlag{Name: "dir", Required: true},
		},
		Action: func(c *cli.Context) error {
			return nodes.RunPause(c.String("hostname"), c.String("dir"))
		},
	}
}
