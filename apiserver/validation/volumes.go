package validation

import (
	"path"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const fileModeErrorMsg = "must be a number between 0 and 0777 (octal), both inclusive"

// volumeKind is one possible source of a volume. kube-apiserver checks the
// sources in this order and reports every source after the first as extra.
type volumeKind struct {
	name     string // JSON name, used in field paths
	extra    string // name used when reporting it as an extra source, if different
	set      func(*corev1.VolumeSource) bool
	validate func(*corev1.VolumeSource, *field.Path) field.ErrorList // nil: nothing beyond presence
}

var volumeKinds = []volumeKind{
	{name: "emptyDir", set: func(v *corev1.VolumeSource) bool { return v.EmptyDir != nil }, validate: emptyDirVolume},
	{name: "hostPath", set: func(v *corev1.VolumeSource) bool { return v.HostPath != nil }, validate: hostPathVolume},
	{name: "gitRepo", set: func(v *corev1.VolumeSource) bool { return v.GitRepo != nil }, validate: gitRepoVolume},
	{name: "gcePersistentDisk", set: func(v *corev1.VolumeSource) bool { return v.GCEPersistentDisk != nil }},
	{name: "awsElasticBlockStore", set: func(v *corev1.VolumeSource) bool { return v.AWSElasticBlockStore != nil }},
	{name: "secret", set: func(v *corev1.VolumeSource) bool { return v.Secret != nil }, validate: secretVolume},
	{name: "nfs", set: func(v *corev1.VolumeSource) bool { return v.NFS != nil }, validate: nfsVolume},
	{name: "iscsi", set: func(v *corev1.VolumeSource) bool { return v.ISCSI != nil }},
	{name: "glusterfs", set: func(v *corev1.VolumeSource) bool { return v.Glusterfs != nil }},
	{name: "flocker", set: func(v *corev1.VolumeSource) bool { return v.Flocker != nil }},
	{name: "persistentVolumeClaim", set: func(v *corev1.VolumeSource) bool { return v.PersistentVolumeClaim != nil }, validate: pvcVolume},
	{name: "rbd", set: func(v *corev1.VolumeSource) bool { return v.RBD != nil }},
	{name: "cinder", set: func(v *corev1.VolumeSource) bool { return v.Cinder != nil }},
	{name: "cephFS", set: func(v *corev1.VolumeSource) bool { return v.CephFS != nil }},
	{name: "quobyte", set: func(v *corev1.VolumeSource) bool { return v.Quobyte != nil }},
	{name: "downwardAPI", extra: "downwarAPI", set: func(v *corev1.VolumeSource) bool { return v.DownwardAPI != nil }, validate: downwardAPIVolume},
	{name: "fc", set: func(v *corev1.VolumeSource) bool { return v.FC != nil }},
	{name: "flexVolume", set: func(v *corev1.VolumeSource) bool { return v.FlexVolume != nil }},
	{name: "configMap", set: func(v *corev1.VolumeSource) bool { return v.ConfigMap != nil }, validate: configMapVolume},
	{name: "azureFile", set: func(v *corev1.VolumeSource) bool { return v.AzureFile != nil }},
	{name: "vsphereVolume", set: func(v *corev1.VolumeSource) bool { return v.VsphereVolume != nil }},
	{name: "photonPersistentDisk", set: func(v *corev1.VolumeSource) bool { return v.PhotonPersistentDisk != nil }},
	{name: "portworxVolume", set: func(v *corev1.VolumeSource) bool { return v.PortworxVolume != nil }},
	{name: "azureDisk", set: func(v *corev1.VolumeSource) bool { return v.AzureDisk != nil }},
	{name: "storageos", set: func(v *corev1.VolumeSource) bool { return v.StorageOS != nil }},
	{name: "projected", set: func(v *corev1.VolumeSource) bool { return v.Projected != nil }, validate: projectedVolume},
	{name: "scaleIO", set: func(v *corev1.VolumeSource) bool { return v.ScaleIO != nil }},
	{name: "csi", set: func(v *corev1.VolumeSource) bool { return v.CSI != nil }},
	{name: "ephemeral", set: func(v *corev1.VolumeSource) bool { return v.Ephemeral != nil }, validate: ephemeralVolume},
	{name: "image", set: func(v *corev1.VolumeSource) bool { return v.Image != nil }},
}

// volumes checks the pod's volumes and returns the valid ones by name, for
// the containers' volumeMounts to refer to.
func volumes(list []corev1.Volume, fldPath *field.Path) (map[string]corev1.VolumeSource, field.ErrorList) {
	var errs field.ErrorList
	vols := map[string]corev1.VolumeSource{}
	for i, v := range list {
		p := fldPath.Index(i)
		namePath := p.Child("name")
		el := volumeSource(&v.VolumeSource, p)
		if v.Name == "" {
			el = append(el, field.Required(namePath, ""))
		} else {
			el = append(el, dnsLabel(v.Name, namePath)...)
		}
		if _, dup := vols[v.Name]; dup {
			el = append(el, field.Duplicate(namePath, v.Name))
		}
		if len(el) == 0 {
			vols[v.Name] = v.VolumeSource
		}
		errs = append(errs, el...)
	}
	return vols, errs
}

func volumeSource(src *corev1.VolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	count := 0
	for _, k := range volumeKinds {
		if !k.set(src) {
			continue
		}
		if count > 0 {
			// kube-apiserver spells downwardAPI "downwarAPI" in this message.
			name := k.name
			if k.extra != "" {
				name = k.extra
			}
			errs = append(errs, field.Forbidden(p.Child(name), "may not specify more than 1 volume type"))
			continue
		}
		count++
		if k.validate != nil {
			errs = append(errs, k.validate(src, p.Child(k.name))...)
		}
	}
	if count == 0 {
		errs = append(errs, field.Required(p, "must specify a volume type"))
	}
	return errs
}

func emptyDirVolume(v *corev1.VolumeSource, p *field.Path) field.ErrorList {
	if l := v.EmptyDir.SizeLimit; l != nil && l.Cmp(resource.Quantity{}) < 0 {
		return field.ErrorList{field.Forbidden(p.Child("sizeLimit"), "SizeLimit field must be a valid resource quantity")}
	}
	return nil
}

var hostPathTypes = []corev1.HostPathType{
	corev1.HostPathUnset, corev1.HostPathBlockDev, corev1.HostPathCharDev, corev1.HostPathDirectory,
	corev1.HostPathDirectoryOrCreate, corev1.HostPathFile, corev1.HostPathFileOrCreate, corev1.HostPathSocket,
}

func hostPathVolume(v *corev1.VolumeSource, p *field.Path) field.ErrorList {
	hp := v.HostPath
	if hp.Path == "" {
		return field.ErrorList{field.Required(p.Child("path"), "")}
	}
	errs := noBacksteps(hp.Path, p.Child("path"))
	if hp.Type != nil && !oneOf(*hp.Type, hostPathTypes...) {
		errs = append(errs, notSupported(p.Child("type"), hp.Type, hostPathTypes...))
	}
	return errs
}

func gitRepoVolume(v *corev1.VolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if v.GitRepo.Repository == "" {
		errs = append(errs, field.Required(p.Child("repository"), ""))
	}
	return append(errs, localDescendingPath(v.GitRepo.Directory, p.Child("directory"))...)
}

func secretVolume(v *corev1.VolumeSource, p *field.Path) field.ErrorList {
	s := v.Secret
	var errs field.ErrorList
	if s.SecretName == "" {
		errs = append(errs, field.Required(p.Child("secretName"), ""))
	}
	errs = append(errs, fileMode(s.DefaultMode, p.Child("defaultMode"))...)
	for i := range s.Items {
		errs = append(errs, keyToPath(&s.Items[i], p.Child("items").Index(i))...)
	}
	return errs
}

func configMapVolume(v *corev1.VolumeSource, p *field.Path) field.ErrorList {
	c := v.ConfigMap
	var errs field.ErrorList
	if c.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	errs = append(errs, fileMode(c.DefaultMode, p.Child("defaultMode"))...)
	for i := range c.Items {
		errs = append(errs, keyToPath(&c.Items[i], p.Child("items").Index(i))...)
	}
	return errs
}

func nfsVolume(v *corev1.VolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if v.NFS.Server == "" {
		errs = append(errs, field.Required(p.Child("server"), ""))
	}
	if v.NFS.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	}
	if !path.IsAbs(v.NFS.Path) {
		errs = append(errs, field.Invalid(p.Child("path"), v.NFS.Path, "must be an absolute path"))
	}
	return errs
}

func pvcVolume(v *corev1.VolumeSource, p *field.Path) field.ErrorList {
	if v.PersistentVolumeClaim.ClaimName == "" {
		return field.ErrorList{field.Required(p.Child("claimName"), "")}
	}
	return nil
}

func ephemeralVolume(v *corev1.VolumeSource, p *field.Path) field.ErrorList {
	if v.Ephemeral.VolumeClaimTemplate == nil {
		return field.ErrorList{field.Required(p.Child("volumeClaimTemplate"), "")}
	}
	return nil
}

func downwardAPIVolume(v *corev1.VolumeSource, p *field.Path) field.ErrorList {
	d := v.DownwardAPI
	errs := fileMode(d.DefaultMode, p.Child("defaultMode"))
	for i := range d.Items {
		errs = append(errs, downwardAPIFile(&d.Items[i], p)...)
	}
	return errs
}

// downwardAPIFile: each file reads exactly one pod field or container
// resource. kube-apiserver reports item errors on the volume's own path.
func downwardAPIFile(f *corev1.DownwardAPIVolumeFile, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if f.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	}
	errs = append(errs, localNonReservedPath(f.Path, p.Child("path"))...)
	switch {
	case f.FieldRef != nil:
		errs = append(errs, objectFieldSelector(f.FieldRef, volumeFieldPaths, p.Child("fieldRef"))...)
		if f.ResourceFieldRef != nil {
			errs = append(errs, field.Invalid(p, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		}
	case f.ResourceFieldRef != nil:
		errs = append(errs, resourceFieldSelector(f.ResourceFieldRef, true, p.Child("resourceFieldRef"))...)
	default:
		errs = append(errs, field.Required(p, "one of fieldRef and resourceFieldRef is required"))
	}
	return append(errs, fileMode(f.Mode, p.Child("mode"))...)
}

// projectedVolume merges several sources into one directory; the files they
// produce may not collide.
func projectedVolume(v *corev1.VolumeSource, p *field.Path) field.ErrorList {
	pr := v.Projected
	errs := fileMode(pr.DefaultMode, p.Child("defaultMode"))
	paths := map[string]bool{}
	claim := func(file string, value any) {
		if file == "" {
			return
		}
		if paths[file] {
			errs = append(errs, field.Invalid(p, value, "conflicting duplicate paths"))
		}
		paths[file] = true
	}
	for i, s := range pr.Sources {
		srcPath := p.Child("sources").Index(i)
		n := 0
		if s.Secret != nil {
			n++
			if s.Secret.Name == "" {
				errs = append(errs, field.Required(srcPath.Child("secret").Child("name"), ""))
			}
			for j := range s.Secret.Items {
				errs = append(errs, keyToPath(&s.Secret.Items[j], srcPath.Child("secret").Child("items").Index(j))...)
				claim(s.Secret.Items[j].Path, s.Secret.Name)
			}
		}
		if s.ConfigMap != nil {
			n++
			if s.ConfigMap.Name == "" {
				errs = append(errs, field.Required(srcPath.Child("configMap").Child("name"), ""))
			}
			for j := range s.ConfigMap.Items {
				errs = append(errs, keyToPath(&s.ConfigMap.Items[j], srcPath.Child("configMap").Child("items").Index(j))...)
				claim(s.ConfigMap.Items[j].Path, s.ConfigMap.Name)
			}
		}
		if s.DownwardAPI != nil {
			n++
			for j := range s.DownwardAPI.Items {
				errs = append(errs, downwardAPIFile(&s.DownwardAPI.Items[j], srcPath.Child("downwardAPI"))...)
				claim(s.DownwardAPI.Items[j].Path, s.DownwardAPI.Items[j].Path)
			}
		}
		if t := s.ServiceAccountToken; t != nil {
			n++
			tokenPath := srcPath.Child("serviceAccountToken")
			if t.ExpirationSeconds != nil && *t.ExpirationSeconds < 10*60 {
				errs = append(errs, field.Invalid(tokenPath.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
			}
			if t.ExpirationSeconds != nil && *t.ExpirationSeconds > 1<<32 {
				errs = append(errs, field.Invalid(tokenPath.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration larger than 2^32 seconds"))
			}
			if t.Path == "" {
				errs = append(errs, field.Required(p.Child("path"), ""))
			} else {
				errs = append(errs, localNonReservedPath(t.Path, p.Child("path"))...)
			}
		}
		if s.ClusterTrustBundle != nil {
			n++
			claim(s.ClusterTrustBundle.Path, s.ClusterTrustBundle.Path)
		}
		if n > 1 {
			errs = append(errs, field.Forbidden(srcPath, "may not specify more than 1 volume type per source"))
		}
	}
	return errs
}

func keyToPath(kp *corev1.KeyToPath, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if kp.Key == "" {
		errs = append(errs, field.Required(p.Child("key"), ""))
	}
	if kp.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	}
	errs = append(errs, localNonReservedPath(kp.Path, p.Child("path"))...)
	return append(errs, fileMode(kp.Mode, p.Child("mode"))...)
}

func fileMode(mode *int32, p *field.Path) field.ErrorList {
	if mode != nil && (*mode > 0777 || *mode < 0) {
		return field.ErrorList{field.Invalid(p, *mode, fileModeErrorMsg)}
	}
	return nil
}

// localDescendingPath: a path that stays inside the directory it is
// relative to.
func localDescendingPath(target string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(target) {
		errs = append(errs, field.Invalid(p, target, "must be a relative path"))
	}
	return append(errs, noBacksteps(target, p)...)
}

func noBacksteps(target string, p *field.Path) field.ErrorList {
	for _, item := range strings.Split(filepath.ToSlash(target), "/") {
		if item == ".." {
			return field.ErrorList{field.Invalid(p, target, "must not contain '..'")}
		}
	}
	return nil
}

// localNonReservedPath: additionally may not start with "..", which the
// kubelet uses for its own bookkeeping in projected directories.
func localNonReservedPath(target string, p *field.Path) field.ErrorList {
	errs := localDescendingPath(target, p)
	if strings.HasPrefix(target, "..") && !strings.HasPrefix(target, "../") {
		errs = append(errs, field.Invalid(p, target, "must not start with '..'"))
	}
	return errs
}
