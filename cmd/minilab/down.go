package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/minilab/minilab/nodes"
)

func downCommand() *cli.Command {
	return &cli.Command{
		Name:  "down",
		Usage: "stop the lab (its objects are kept for the next `up` unless --purge)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "purge", Usage: "also delete the lab's data dir and its context in your kubeconfig"},
		},
		Action: func(c *cli.Context) error {
			name, dataDir, err := labDirs(c)
			if err != nil {
				return err
			}
			if info := readRunInfo(dataDir); info != nil {
				if err := stopProcess(info.PID, 15*time.Second); err != nil {
					return fmt.Errorf("stopping pid %d: %v", info.PID, err)
				}
				fmt.Printf("minilab %q stopped.\n", name)
			} else {
				fmt.Printf("minilab %q is not running.\n", name)
			}
			if c.Bool("purge") {
				if path := readMergedRecord(dataDir); path != "" {
					if err := unmergeKubeconfig(path, name); err != nil && !os.IsNotExist(err) {
						return fmt.Errorf("removing context %q from %s: %v", name, path, err)
					}
				}
				if err := os.RemoveAll(dataDir); err != nil {
					return err
				}
				fmt.Printf("Removed %s and the %q kubeconfig context.\n", dataDir, name)
			}
			return nil
		},
	}
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show whether the lab runs, and where",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print machine-readable JSON"}},
		Action: func(c *cli.Context) error {
			name, dataDir, err := labDirs(c)
			if err != nil {
				return err
			}
			info := readRunInfo(dataDir)
			if c.Bool("json") {
				out := map[string]interface{}{"name": name, "dataDir": dataDir, "running": info != nil}
				if info != nil {
					nodeList, pods := labNamespaces(name)
					out["pid"], out["server"], out["started"], out["nodes"], out["pods"] = info.PID, info.Server, info.Started, nodeList, pods
				}
				b, _ := json.MarshalIndent(out, "", "  ")
				fmt.Println(string(b))
			} else if info == nil {
				fmt.Printf("minilab %q is not running (data dir %s).\n", name, dataDir)
			} else {
				fmt.Printf("minilab %q is running: pid %d, up %s.\n", name, info.PID, time.Since(info.Started).Round(time.Second))
				nodeList, pods := labNamespaces(name)
				if len(nodeList) > 0 {
					fmt.Printf("  nodes:       %s (network namespaces; ip netns exec <node> ...)\n", strings.Join(nodeList, ", "))
					fmt.Printf("  pods:        %d running\n", pods)
				}
				printUsage(info)
			}
			if info == nil {
				return cli.Exit("", 3)
			}
			return nil
		},
	}
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print minilab's version and the Kubernetes version it serves",
		Action: func(c *cli.Context) error {
			fmt.Printf("minilab %s (serves Kubernetes %s)\n", minilabVersion(), servedKubernetesVersion())
			return nil
		},
	}
}

// labNamespaces lists the lab's node namespaces and counts its pods'.
func labNamespaces(lab string) (nodeNames []string, pods int) {
	cfg := nodes.DefaultConfig(lab)
	names, _ := nodes.ListNamespaces()
	for _, n := range names {
		switch {
		case strings.HasPrefix(n, lab+"-pod-"):
			pods++
		case cfg.OwnsNamespace(n):
			nodeNames = append(nodeNames, n)
		}
	}
	sort.Strings(nodeNames)
	return nodeNames, pods
}
