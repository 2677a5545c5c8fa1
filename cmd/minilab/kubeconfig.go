package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Like kind, minilab writes a kubeconfig for the lab into its data dir and
// merges a context named after the lab into the user's own kubeconfig, so
// that plain `kubectl` talks to the lab right after `minilab up`.

// labKubeconfig builds the lab's kubeconfig: one cluster, user and context,
// all named after the lab, with the CA inline and the admin token.
func labKubeconfig(name, server string, caPEM []byte, token string) *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: "default"}
	cfg.CurrentContext = name
	return cfg
}

// writeKubeconfig writes cfg to path with mode 0600 (it holds a credential).
func writeKubeconfig(path string, cfg *clientcmdapi.Config) error {
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// userKubeconfig is the kubeconfig file of the person who ran minilab: the
// first file of $KUBECONFIG, else ~/.kube/config, where under sudo "~" is
// the invoking user's home (SUDO_USER), not root's. It also returns the
// uid/gid the file should belong to (-1 to leave as is).
func userKubeconfig() (path string, uid, gid int) {
	uid, gid = -1, -1
	if env := os.Getenv("KUBECONFIG"); env != "" {
		parts := filepath.SplitList(env)
		for _, p := range parts {
			if _, err := os.Stat(p); err == nil {
				return p, uid, gid
			}
		}
		return parts[0], uid, gid
	}
	home, _ := os.UserHomeDir()
	if sudoUser := os.Getenv("SUDO_USER"); sudoUser != "" && os.Geteuid() == 0 {
		if u, err := user.Lookup(sudoUser); err == nil {
			home = u.HomeDir
			uid, _ = strconv.Atoi(u.Uid)
			gid, _ = strconv.Atoi(u.Gid)
		}
	}
	return filepath.Join(home, ".kube", "config"), uid, gid
}

// mergeKubeconfig adds (or replaces) the lab's cluster, user and context in
// the kubeconfig at path and makes the context current.
func mergeKubeconfig(path string, uid, gid int, lab *clientcmdapi.Config, name string) error {
	cfg, err := loadOrEmpty(path)
	if err != nil {
		return err
	}
	cfg.Clusters[name] = lab.Clusters[name]
	cfg.AuthInfos[name] = lab.AuthInfos[name]
	cfg.Contexts[name] = lab.Contexts[name]
	cfg.CurrentContext = name
	dir := filepath.Dir(path)
	_, statErr := os.Stat(dir)
	if err := writeKubeconfig(path, cfg); err != nil {
		return err
	}
	if uid >= 0 {
		if os.IsNotExist(statErr) {
			os.Chown(dir, uid, gid)
		}
		if err := os.Chown(path, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

// unmergeKubeconfig removes the lab's entries from the kubeconfig at path.
func unmergeKubeconfig(path, name string) error {
	cfg, err := loadOrEmpty(path)
	if err != nil {
		return err
	}
	if _, ok := cfg.Contexts[name]; !ok {
		return nil
	}
	delete(cfg.Clusters, name)
	delete(cfg.AuthInfos, name)
	delete(cfg.Contexts, name)
	if cfg.CurrentContext == name {
		cfg.CurrentContext = ""
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if err := writeKubeconfig(path, cfg); err != nil {
		return err
	}
	if st, ok := statOwner(info); ok {
		os.Chown(path, st.uid, st.gid)
	}
	return nil
}

func loadOrEmpty(path string) (*clientcmdapi.Config, error) {
	cfg, err := clientcmd.LoadFromFile(path)
	if os.IsNotExist(err) {
		return clientcmdapi.NewConfig(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read kubeconfig %s: %v (fix or move it, or set KUBECONFIG to another file)", path, err)
	}
	return cfg, nil
}

// mergedKubeconfigRecord remembers, in the data dir, which user kubeconfig
// got the lab's context, so that `down --purge` cleans the same file.
func mergedKubeconfigRecord(dataDir string) string {
	return filepath.Join(dataDir, "merged-kubeconfig")
}

func readMergedRecord(dataDir string) string {
	b, err := os.ReadFile(mergedKubeconfigRecord(dataDir))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
