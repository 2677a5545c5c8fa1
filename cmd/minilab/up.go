package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/minilab/minilab/apiserver/allocator"
	"github.com/minilab/minilab/controllers/loadbalancer"
	"github.com/minilab/minilab/nodes"
)

func upCommand() *cli.Command {
	return &cli.Command{
		Name:  "up",
		Usage: "start the lab (in the background; returns once the API answers)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "foreground", Usage: "stay attached and log to the terminal; Ctrl-C stops the lab"},
			&cli.StringFlag{Name: "api-address", Value: "127.0.0.1", Usage: "`IP` the API server listens on"},
			&cli.IntFlag{Name: "api-port", Value: 6443, Usage: "`PORT` of the API server (0 picks a free one)"},
			&cli.StringFlag{Name: "service-cidr", Value: "10.96.0.0/12", Usage: "`CIDR` ClusterIPs come from"},
			&cli.StringFlag{Name: "node-port-range", Value: "30000-32767", Usage: "`RANGE` node ports come from"},
			&cli.StringFlag{Name: "node-cidr", Value: "172.30.0.0/24", Usage: "`CIDR` of the lab's node network (the host bridge is its .1, the control plane .2)"},
			&cli.StringFlag{Name: "pod-cidr", Value: "10.244.0.0/16", Usage: "`CIDR` of the pod network, one /24 per node"},
			&cli.IntFlag{Name: "workers", Value: 2, Usage: "number of worker `NODES`"},
			&cli.BoolFlag{Name: "api-only", Usage: "serve only the API and controllers: no nodes, pods or network (needs no root)"},
			&cli.StringFlag{Name: "lb-pool", Usage: "`RANGE` (a-b or CIDR) LoadBalancer Services get external IPs from (default: .200-.250 of --node-cidr)"},
			&cli.StringFlag{Name: "cluster-domain", Value: "cluster.local", Usage: "the cluster's DNS `DOMAIN`"},
			&cli.StringSliceFlag{Name: "dns-upstream", Usage: "resolver `HOST:PORT` for names outside the cluster (repeatable; default: the nameservers of /etc/resolv.conf)"},
			&cli.DurationFlag{Name: "proxy-sync-period", Value: 30 * time.Second, Usage: "how often each node's proxy checks its rules are intact (kube-proxy's --iptables-sync-period)"},
			&cli.StringFlag{Name: "host-netns", Usage: "put the lab's host side (bridge, routes) into this existing network `NAMESPACE` instead of the host's (tests use a throwaway one)", Hidden: true},
			&cli.StringFlag{Name: "kubeconfig", Usage: "kubeconfig `FILE` to merge the lab's context into (default: $KUBECONFIG or the invoking user's ~/.kube/config)"},
			&cli.BoolFlag{Name: "no-merge-kubeconfig", Usage: "only write <data-dir>/kubeconfig; leave the user's kubeconfig alone"},
		},
		Action: runUp,
	}
}

// upConfig is what `up` was asked for, checked before anything is changed.
type upConfig struct {
	name, dataDir          string
	apiAddress             string
	apiPort                int
	serviceCIDR, nodePorts string
	nodeCIDR, podCIDR      netip.Prefix
	workers                int
	proxySyncPeriod        time.Duration
	clusterDomain          string
	lbPool                 []netip.Addr
	lbPoolText             string
	dnsUpstreams           []string
	apiOnly                bool
	hostNetns              string
	kubeconfig             string
	mergeKubeconfig        bool
}

func parseUpFlags(c *cli.Context) (*upConfig, error) {
	name, dataDir, err := labDirs(c)
	if err != nil {
		return nil, err
	}
	cfg := &upConfig{
		name: name, dataDir: dataDir,
		apiAddress: c.String("api-address"), apiPort: c.Int("api-port"),
		serviceCIDR: c.String("service-cidr"), nodePorts: c.String("node-port-range"),
		kubeconfig: c.String("kubeconfig"), mergeKubeconfig: !c.Bool("no-merge-kubeconfig"),
		workers: c.Int("workers"), apiOnly: c.Bool("api-only"), hostNetns: c.String("host-netns"),
		proxySyncPeriod: c.Duration("proxy-sync-period"),
		clusterDomain:   strings.TrimSuffix(c.String("cluster-domain"), "."), dnsUpstreams: c.StringSlice("dns-upstream"),
	}
	if net.ParseIP(cfg.apiAddress) == nil {
		return nil, fmt.Errorf("invalid --api-address %q: give an IP address such as 127.0.0.1", cfg.apiAddress)
	}
	if cfg.apiPort < 0 || cfg.apiPort > 65535 {
		return nil, fmt.Errorf("invalid --api-port %d: use 1-65535, or 0 for any free port", cfg.apiPort)
	}
	if errs := validation.IsDNS1123Subdomain(cfg.clusterDomain); len(errs) > 0 {
		return nil, fmt.Errorf("invalid --cluster-domain %q: %s", cfg.clusterDomain, strings.Join(errs, "; "))
	}
	for i, u := range cfg.dnsUpstreams {
		if _, _, err := net.SplitHostPort(u); err != nil {
			cfg.dnsUpstreams[i] = net.JoinHostPort(u, "53")
			if net.ParseIP(u) == nil {
				return nil, fmt.Errorf("invalid --dns-upstream %q: give IP or IP:PORT", u)
			}
		}
	}
	if cfg.proxySyncPeriod < 100*time.Millisecond {
		return nil, fmt.Errorf("invalid --proxy-sync-period %v: use 100ms or more", cfg.proxySyncPeriod)
	}
	if cfg.nodeCIDR, err = netip.ParsePrefix(c.String("node-cidr")); err != nil || !cfg.nodeCIDR.Addr().Is4() || cfg.nodeCIDR.Bits() > 24 {
		return nil, fmt.Errorf("invalid --node-cidr %q: give an IPv4 network of /24 or larger, e.g. 172.30.0.0/24", c.String("node-cidr"))
	}
	cfg.nodeCIDR = cfg.nodeCIDR.Masked()
	if cfg.podCIDR, err = netip.ParsePrefix(c.String("pod-cidr")); err != nil || !cfg.podCIDR.Addr().Is4() {
		return nil, fmt.Errorf("invalid --pod-cidr %q: give an IPv4 network such as 10.244.0.0/16", c.String("pod-cidr"))
	}
	cfg.podCIDR = cfg.podCIDR.Masked()
	cfg.lbPoolText = c.String("lb-pool")
	if cfg.lbPoolText == "" {
		base := cfg.nodeCIDR.Addr().As4()
		first, last := base, base
		first[3], last[3] = base[3]+200, base[3]+250
		cfg.lbPoolText = netip.AddrFrom4(first).String() + "-" + netip.AddrFrom4(last).String()
	}
	if cfg.lbPool, err = loadbalancer.ParsePool(cfg.lbPoolText); err != nil {
		return nil, fmt.Errorf("invalid --lb-pool: %v", err)
	}
	for _, ip := range cfg.lbPool {
		if !cfg.nodeCIDR.Contains(ip) {
			return nil, fmt.Errorf("invalid --lb-pool %s: the addresses must be on the node network %s (the load balancer answers for them there)", cfg.lbPoolText, cfg.nodeCIDR)
		}
	}
	if _, err := allocator.NewIPRange(cfg.serviceCIDR); err != nil {
		return nil, fmt.Errorf("invalid --service-cidr: %v", err)
	}
	if _, err := allocator.ParsePortRange(cfg.nodePorts); err != nil {
		return nil, fmt.Errorf("invalid --node-port-range: %v", err)
	}
	if !cfg.apiOnly {
		if err := cfg.nodesConfig().Validate(); err != nil {
			return nil, err
		}
		if os.Geteuid() != 0 {
			return nil, fmt.Errorf("minilab up builds network namespaces and needs root: run it with sudo (or add --api-only for the API alone)")
		}
		// The proxier writes its rules with iptables-restore, as kube-proxy
		// does; fail before building anything when it is missing.
		for _, tool := range []string{"iptables-restore", "iptables-save"} {
			if _, err := exec.LookPath(tool); err != nil {
				return nil, fmt.Errorf("minilab up needs %s, which is not installed: run `apt-get install iptables` (or your distribution's iptables package)", tool)
			}
		}
	}
	return cfg, nil
}

// nodesConfig is the lab's address plan for the nodes package.
func (u *upConfig) nodesConfig() nodes.Config {
	svc, _ := netip.ParsePrefix(u.serviceCIDR)
	return nodes.Config{Name: u.name, NodeCIDR: u.nodeCIDR, PodCIDR: u.podCIDR, ServiceCIDR: svc,
		Workers: u.workers, HostNetns: u.hostNetns}
}

// controlPlaneIP is the control-plane node's address: .2 of the node
// network (.1 is the bridge on the host).
func (u *upConfig) controlPlaneIP() net.IP {
	a := u.nodeCIDR.Addr().As4()
	a[3] += 2
	return net.IP(a[:])
}

func (u *upConfig) childArgs() []string {
	args := []string{"--name", u.name, "--data-dir", u.dataDir, "up", "--foreground",
		"--api-address", u.apiAddress, "--api-port", strconv.Itoa(u.apiPort),
		"--service-cidr", u.serviceCIDR, "--node-port-range", u.nodePorts, "--node-cidr", u.nodeCIDR.String(),
		"--pod-cidr", u.podCIDR.String(), "--workers", strconv.Itoa(u.workers), "--proxy-sync-period", u.proxySyncPeriod.String(),
		"--cluster-domain", u.clusterDomain, "--lb-pool", u.lbPoolText}
	for _, up := range u.dnsUpstreams {
		args = append(args, "--dns-upstream", up)
	}
	if u.apiOnly {
		args = append(args, "--api-only")
	}
	if u.hostNetns != "" {
		args = append(args, "--host-netns", u.hostNetns)
	}
	if u.kubeconfig != "" {
		args = append(args, "--kubeconfig", u.kubeconfig)
	}
	if !u.mergeKubeconfig {
		args = append(args, "--no-merge-kubeconfig")
	}
	return args
}

func runUp(c *cli.Context) error {
	cfg, err := parseUpFlags(c)
	if err != nil {
		return err
	}
	if info := readRunInfo(cfg.dataDir); info != nil {
		fmt.Printf("minilab %q is already up (pid %d, API %s).\n", info.Name, info.PID, info.Server)
		printUsage(info)
		return nil
	}
	if c.Bool("foreground") {
		return runLab(cfg, os.Getenv(daemonEnv) == "")
	}
	return startDaemon(cfg)
}

// daemonEnv marks the background copy of minilab that `up` starts.
const daemonEnv = "MINILAB_DAEMON"

// startDaemon starts `minilab up --foreground` detached from the terminal,
// logging to <data-dir>/minilab.log, and waits until its API answers.
func startDaemon(cfg *upConfig) error {
	start := time.Now()
	if err := os.MkdirAll(cfg.dataDir, 0o700); err != nil {
		return fmt.Errorf("cannot create the data dir: %v (run as root, or pick another --data-dir)", err)
	}
	logPath := filepath.Join(cfg.dataDir, "minilab.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	os.Remove(runInfoPath(cfg.dataDir))
	cmd := exec.Command(self, cfg.childArgs()...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), daemonEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("the lab did not start (%v); its log %s ends with:\n%s", err, logPath, tail(logPath, 15))
		case <-timeout:
			// SIGTERM, so the lab tears down what it built.
			cmd.Process.Signal(syscall.SIGTERM)
			return fmt.Errorf("the lab did not become ready within 2 minutes; see %s", logPath)
		case <-tick.C:
			if info := readRunInfo(cfg.dataDir); info != nil && info.PID == cmd.Process.Pid {
				cmd.Process.Release()
				fmt.Printf("minilab %q is up in %.2fs.\n", cfg.name, time.Since(start).Seconds())
				printUsage(info)
				return nil
			}
		}
	}
}

func printUsage(info *runInfo) {
	fmt.Printf("  API server:  %s\n", info.Server)
	fmt.Printf("  kubeconfig:  %s\n", info.Kubeconfig)
	fmt.Printf("\nTry:\n  kubectl --context %s cluster-info\n  kubectl --context %s get namespaces\n", info.Name, info.Name)
	fmt.Printf("Stop it with: sudo minilab down%s\n", nameFlag(info.Name))
}

func nameFlag(name string) string {
	if name == "minilab" {
		return ""
	}
	return " --name " + name
}

// runLab runs the lab in this process until SIGINT or SIGTERM.
func runLab(cfg *upConfig, interactive bool) error {
	start := time.Now()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	lab, err := startLab(ctx, cfg)
	if err != nil {
		return err
	}
	defer lab.stop()

	kubeconfigPath := filepath.Join(cfg.dataDir, "kubeconfig")
	kc := labKubeconfig(cfg.name, lab.api.URL(), lab.api.CAPEM(), lab.api.Token())
	if err := writeKubeconfig(kubeconfigPath, kc); err != nil {
		return err
	}
	shown := kubeconfigPath
	if cfg.mergeKubeconfig {
		path, uid, gid := userKubeconfig()
		if cfg.kubeconfig != "" {
			path, uid, gid = cfg.kubeconfig, -1, -1
		}
		if err := mergeKubeconfig(path, uid, gid, kc, cfg.name); err != nil {
			return err
		}
		os.WriteFile(mergedKubeconfigRecord(cfg.dataDir), []byte(path+"\n"), 0o600)
		shown = fmt.Sprintf("%s (context %q merged into %s)", kubeconfigPath, cfg.name, path)
	}
	if err := lab.waitReady(ctx); err != nil {
		return err
	}
	info := runInfo{Name: cfg.name, PID: os.Getpid(), Server: lab.api.URL(), Kubeconfig: shown, Started: start,
		ReadyAfter: time.Since(start).Round(time.Millisecond).String()}
	if err := writeRunInfo(cfg.dataDir, info); err != nil {
		return err
	}
	defer os.Remove(runInfoPath(cfg.dataDir))
	if interactive {
		fmt.Printf("minilab %q is up in %.2fs (Ctrl-C stops it).\n", cfg.name, time.Since(start).Seconds())
		printUsage(&info)
	} else {
		fmt.Printf("%s minilab %q ready in %s, API %s\n", time.Now().Format(time.RFC3339), cfg.name, info.ReadyAfter, lab.api.URL())
	}
	select {
	case <-ctx.Done():
		fmt.Printf("%s minilab %q stopping\n", time.Now().Format(time.RFC3339), cfg.name)
		return nil
	case err := <-lab.serveErr:
		return err
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
