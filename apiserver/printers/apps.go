package printers

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// kube-apiserver's workload printers still take their column descriptions
// from the old extensions/v1beta1 types, whose wording differs slightly from
// apps/v1; they are used here so the descriptions match.
var (
	deploymentStatusDoc = extensionsv1beta1.DeploymentStatus{}.SwaggerDoc()
	replicaSetSpecDoc   = extensionsv1beta1.ReplicaSetSpec{}.SwaggerDoc()
	replicaSetStatusDoc = extensionsv1beta1.ReplicaSetStatus{}.SwaggerDoc()
	daemonSetStatusDoc  = extensionsv1beta1.DaemonSetStatus{}.SwaggerDoc()
)

const readyPodsDescription = "Number of the pod with ready state"

var deploymentPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{
		nameColumn(),
		stringColumn("Ready", readyPodsDescription),
		stringColumn("Up-to-date", deploymentStatusDoc["updatedReplicas"]),
		stringColumn("Available", deploymentStatusDoc["availableReplicas"]),
		ageColumn(),
		wide(stringColumn("Containers", containersDescription)),
		wide(stringColumn("Images", imagesDescription)),
		wide(stringColumn("Selector", extensionsv1beta1.DeploymentSpec{}.SwaggerDoc()["selector"])),
	},
	Row: rowOf(deploymentCells),
}

// deploymentCells: READY is ready/desired pods. Unlike the other workloads, the
// deployment printer renders its selector without the <none> placeholder.
func deploymentCells(d *appsv1.Deployment, now time.Time) []interface{} {
	names, images := containerCells(d.Spec.Template.Spec.Containers)
	selector := "<invalid>"
	if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
		selector = s.String()
	}
	return []interface{}{
		d.Name,
		fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, desiredReplicas(d.Spec.Replicas)),
		int64(d.Status.UpdatedReplicas),
		int64(d.Status.AvailableReplicas),
		age(d.CreationTimestamp, now),
		names,
		images,
		selector,
	}
}

var replicaSetPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{
		nameColumn(),
		integerColumn("Desired", replicaSetSpecDoc["replicas"]),
		integerColumn("Current", replicaSetStatusDoc["replicas"]),
		integerColumn("Ready", replicaSetStatusDoc["readyReplicas"]),
		ageColumn(),
		wide(stringColumn("Containers", containersDescription)),
		wide(stringColumn("Images", imagesDescription)),
		wide(stringColumn("Selector", replicaSetSpecDoc["selector"])),
	},
	Row: rowOf(replicaSetCells),
}

func replicaSetCells(rs *appsv1.ReplicaSet, now time.Time) []interface{} {
	names, images := containerCells(rs.Spec.Template.Spec.Containers)
	return []interface{}{
		rs.Name,
		int64(desiredReplicas(rs.Spec.Replicas)),
		int64(rs.Status.Replicas),
		int64(rs.Status.ReadyReplicas),
		age(rs.CreationTimestamp, now),
		names,
		images,
		metav1.FormatLabelSelector(rs.Spec.Selector),
	}
}

var statefulSetPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{
		nameColumn(),
		stringColumn("Ready", readyPodsDescription),
		ageColumn(),
		wide(stringColumn("Containers", containersDescription)),
		wide(stringColumn("Images", imagesDescription)),
	},
	Row: rowOf(statefulSetCells),
}

func statefulSetCells(ss *appsv1.StatefulSet, now time.Time) []interface{} {
	names, images := containerCells(ss.Spec.Template.Spec.Containers)
	return []interface{}{
		ss.Name,
		fmt.Sprintf("%d/%d", ss.Status.ReadyReplicas, desiredReplicas(ss.Spec.Replicas)),
		age(ss.CreationTimestamp, now),
		names,
		images,
	}
}

var daemonSetPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{
		nameColumn(),
		integerColumn("Desired", daemonSetStatusDoc["desiredNumberScheduled"]),
		integerColumn("Current", daemonSetStatusDoc["currentNumberScheduled"]),
		integerColumn("Ready", daemonSetStatusDoc["numberReady"]),
		integerColumn("Up-to-date", daemonSetStatusDoc["updatedNumberScheduled"]),
		integerColumn("Available", daemonSetStatusDoc["numberAvailable"]),
		stringColumn("Node Selector", corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]),
		ageColumn(),
		wide(stringColumn("Containers", containersDescription)),
		wide(stringColumn("Images", imagesDescription)),
		wide(stringColumn("Selector", extensionsv1beta1.DaemonSetSpec{}.SwaggerDoc()["selector"])),
	},
	Row: rowOf(daemonSetCells),
}

// daemonSetCells: the counts come from the status the DaemonSet controller
// writes; NODE SELECTOR is the pod template's nodeSelector.
func daemonSetCells(ds *appsv1.DaemonSet, now time.Time) []interface{} {
	names, images := containerCells(ds.Spec.Template.Spec.Containers)
	return []interface{}{
		ds.Name,
		int64(ds.Status.DesiredNumberScheduled),
		int64(ds.Status.CurrentNumberScheduled),
		int64(ds.Status.NumberReady),
		int64(ds.Status.UpdatedNumberScheduled),
		int64(ds.Status.NumberAvailable),
		labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector),
		age(ds.CreationTimestamp, now),
		names,
		images,
		metav1.FormatLabelSelector(ds.Spec.Selector),
	}
}

// desiredReplicas reads spec.replicas. The API server defaults it to 1, so a
// stored object always has it; 1 is assumed should it ever be missing.
func desiredReplicas(replicas *int32) int32 {
	if replicas == nil {
		return 1
	}
	return *replicas
}
