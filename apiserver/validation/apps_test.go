package validation

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const mismatch = "`selector` does not match template `labels`"

func TestDeploymentCreate(t *testing.T) {
	ru := func(d *appsv1.Deployment) *appsv1.RollingUpdateDeployment { return d.Spec.Strategy.RollingUpdate }
	cases := []struct {
		name   string
		mutate func(*appsv1.Deployment)
		want   []string
	}{
		{"selector does not match template labels", func(d *appsv1.Deployment) { d.Spec.Template.Labels = map[string]string{"app": "other"} },
			[]string{`spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: ` + mismatch}},
		{"selector required", func(d *appsv1.Deployment) { d.Spec.Selector = nil },
			[]string{`spec.selector: Required value`, `spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: ` + mismatch}},
		{"empty selector", func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} },
			[]string{`spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment`}},
		{"selector with expressions", func(d *appsv1.Deployment) {
			d.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"web", "api"}}}}
		}, nil},
		{"negative replicas", func(d *appsv1.Deployment) { d.Spec.Replicas = ptrTo[int32](-1) },
			[]string{`spec.replicas: Invalid value: -1: must be greater than or equal to 0`}},
		{"template restartPolicy must be Always", func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever },
			[]string{`spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"`}},
		{"template container without image", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" },
			[]string{`spec.template.spec.containers[0].image: Required value`}},
		{"template label values", func(d *appsv1.Deployment) { d.Spec.Template.Labels["tier"] = "front end" },
			[]string{`spec.template.labels: Invalid value: "front end": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`}},
		{"maxSurge and maxUnavailable both 0", func(d *appsv1.Deployment) {
			ru(d).MaxSurge, ru(d).MaxUnavailable = ptrTo(intstr.FromString("0%")), ptrTo(intstr.FromInt32(0))
		}, []string{"spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: may not be 0 when `maxSurge` is 0"}},
		{"maxUnavailable over 100%", func(d *appsv1.Deployment) { ru(d).MaxUnavailable = ptrTo(intstr.FromString("110%")) },
			[]string{`spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"110%"}: must not be greater than 100%`}},
		{"maxSurge not a percentage", func(d *appsv1.Deployment) { ru(d).MaxSurge = ptrTo(intstr.FromString("20Percent")) },
			[]string{`spec.strategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"20Percent"}: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')`}},
		{"negative maxSurge", func(d *appsv1.Deployment) { ru(d).MaxSurge = ptrTo(intstr.FromInt32(-1)) },
			[]string{`spec.strategy.rollingUpdate.maxSurge: Invalid value: -1: must be greater than or equal to 0`}},
		{"unknown strategy", func(d *appsv1.Deployment) { d.Spec.Strategy = appsv1.DeploymentStrategy{Type: "BlueGreen"} },
			[]string{`spec.strategy: Unsupported value: apps.DeploymentStrategy{Type:"BlueGreen", RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}: supported values: "Recreate", "RollingUpdate"`}},
		{"Recreate has no rollingUpdate", func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType },
			[]string{"spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"}},
		{"progressDeadlineSeconds after minReadySeconds", func(d *appsv1.Deployment) {
			d.Spec.MinReadySeconds, d.Spec.ProgressDeadlineSeconds = 10, ptrTo[int32](10)
		}, []string{`spec.progressDeadlineSeconds: Invalid value: 10: must be greater than minReadySeconds`}},
		{"negative revisionHistoryLimit", func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptrTo[int32](-1) },
			[]string{`spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := deployment()
			tc.mutate(d)
			expectErrors(t, ValidateCreate(d), tc.want...)
		})
	}
}

func TestWorkloadSelectorIsImmutable(t *testing.T) {
	newSelector := func(sel **metav1.LabelSelector, labels map[string]string) {
		*sel = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "fe"}}
		labels["tier"] = "fe"
	}
	const want = `spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "tier":"fe"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable`

	d := deployment()
	newSelector(&d.Spec.Selector, d.Spec.Template.Labels)
	expectErrors(t, ValidateUpdate(d, deployment()), want)

	ds := daemonSet()
	newSelector(&ds.Spec.Selector, ds.Spec.Template.Labels)
	expectErrors(t, ValidateUpdate(ds, daemonSet()), want)

	rs := replicaSet()
	rs.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "pod-template-hash": "5d4f8c7b9", "tier": "fe"}}
	rs.Spec.Template.Labels["tier"] = "fe"
	expectErrors(t, ValidateUpdate(rs, replicaSet()),
		`spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "pod-template-hash":"5d4f8c7b9", "tier":"fe"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable`)

	// Scaling and new pod templates are what updates are for.
	d = deployment()
	d.Spec.Replicas = ptrTo[int32](5)
	d.Spec.Template.Spec.Containers[0].Image = "gcr.io/google-samples/hello-app:2.0"
	expectErrors(t, ValidateUpdate(d, deployment()))
}

func TestReplicaSetCreate(t *testing.T) {
	rs := replicaSet()
	rs.Spec.Selector = &metav1.LabelSelector{}
	// kube-apiserver's message names deployments here too.
	expectErrors(t, ValidateCreate(rs),
		`spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment`)

	rs = replicaSet()
	delete(rs.Spec.Template.Labels, "pod-template-hash")
	expectErrors(t, ValidateCreate(rs), `spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `+mismatch)
}

func TestStatefulSetCreate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*appsv1.StatefulSet)
		want   []string
	}{
		{"podManagementPolicy", func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = "Random" },
			[]string{`spec.podManagementPolicy: Invalid value: "Random": must be 'OrderedReady' or 'Parallel'`}},
		{"podManagementPolicy required", func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = "" },
			[]string{`spec.podManagementPolicy: Required value`}},
		{"unknown updateStrategy", func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: "Blue"} },
			[]string{`spec.updateStrategy: Invalid value: apps.StatefulSetUpdateStrategy{Type:"Blue", RollingUpdate:(*apps.RollingUpdateStatefulSetStrategy)(nil)}: must be 'RollingUpdate' or 'OnDelete'`}},
		{"OnDelete has no rollingUpdate", func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType },
			[]string{`spec.updateStrategy.rollingUpdate: Invalid value: apps.RollingUpdateStatefulSetStrategy{Partition:0, MaxUnavailable:(*intstr.IntOrString)(nil)}: only allowed for updateStrategy 'RollingUpdate'`}},
		{"negative partition", func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = ptrTo[int32](-1) },
			[]string{`spec.updateStrategy.rollingUpdate.partition: Invalid value: -1: must be greater than or equal to 0`}},
		{"empty selector", func(s *appsv1.StatefulSet) { s.Spec.Selector = &metav1.LabelSelector{} },
			[]string{`spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for statefulset`}},
		{"selector mismatch", func(s *appsv1.StatefulSet) { s.Spec.Template.Labels = map[string]string{"app": "db"} },
			[]string{`spec.template.metadata.labels: Invalid value: map[string]string{"app":"db"}: ` + mismatch}},
		{"restartPolicy must be Always", func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure },
			[]string{`spec.template.spec.restartPolicy: Unsupported value: "OnFailure": supported values: "Always"`}},
		{"retention policy", func(s *appsv1.StatefulSet) { s.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = "Keep" },
			[]string{`spec.persistentVolumeClaimRetentionPolicy.whenScaled: Unsupported value: "Keep": supported values: "Retain", "Delete"`}},
		// Like kube-apiserver, the template's pod spec is not validated
		// here; the StatefulSet controller's pod creation reports it.
		{"pod spec is not checked", func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "" }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := statefulSet()
			tc.mutate(s)
			expectErrors(t, ValidateCreate(s), tc.want...)
		})
	}
}

func TestStatefulSetUpdate(t *testing.T) {
	const forbidden = "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
	cases := []struct {
		name   string
		mutate func(*appsv1.StatefulSet)
		want   []string
	}{
		{"scale", func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptrTo[int32](5) }, nil},
		{"new template", func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "nginx:1.27" }, nil},
		{"serviceName is fixed", func(s *appsv1.StatefulSet) { s.Spec.ServiceName = "web-headless" }, []string{forbidden}},
		{"podManagementPolicy is fixed", func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }, []string{forbidden}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := statefulSet()
			tc.mutate(s)
			expectErrors(t, ValidateUpdate(s, statefulSet()), tc.want...)
		})
	}
}

func TestDaemonSetCreate(t *testing.T) {
	ru := func(d *appsv1.DaemonSet) *appsv1.RollingUpdateDaemonSet { return d.Spec.UpdateStrategy.RollingUpdate }
	cases := []struct {
		name   string
		mutate func(*appsv1.DaemonSet)
		want   []string
	}{
		{"surge with unavailable", func(d *appsv1.DaemonSet) { ru(d).MaxSurge = ptrTo(intstr.FromInt32(1)) },
			[]string{`spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:0, IntVal:1, StrVal:""}: may not be set when maxUnavailable is non-zero`}},
		{"surge instead of unavailable", func(d *appsv1.DaemonSet) {
			ru(d).MaxSurge, ru(d).MaxUnavailable = ptrTo(intstr.FromString("10%")), ptrTo(intstr.FromInt32(0))
		}, nil},
		{"neither surge nor unavailable", func(d *appsv1.DaemonSet) { ru(d).MaxUnavailable = ptrTo(intstr.FromInt32(0)) },
			[]string{`spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0`}},
		{"unknown strategy", func(d *appsv1.DaemonSet) { d.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: "Surge"} },
			[]string{`spec.updateStrategy: Unsupported value: apps.DaemonSetUpdateStrategy{Type:"Surge", RollingUpdate:(*apps.RollingUpdateDaemonSet)(nil)}: supported values: "RollingUpdate", "OnDelete"`}},
		{"selector mismatch", func(d *appsv1.DaemonSet) { d.Spec.Template.Labels = map[string]string{"app": "agent"} },
			[]string{`spec.template.metadata.labels: Invalid value: map[string]string{"app":"agent"}: ` + mismatch}},
		{"template container name", func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.Containers[0].Name = "" },
			[]string{`spec.template.spec.containers[0].name: Required value`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := daemonSet()
			tc.mutate(d)
			expectErrors(t, ValidateCreate(d), tc.want...)
		})
	}
}

func TestWorkloadStatusUpdates(t *testing.T) {
	d := deployment()
	d.Status = appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 5, AvailableReplicas: 3, CollisionCount: ptrTo[int32](1)}
	old := deployment()
	old.Status.CollisionCount = ptrTo[int32](2)
	expectErrors(t, ValidateStatusUpdate(d, old),
		`status.readyReplicas: Invalid value: 5: cannot be greater than status.replicas`,
		`status.collisionCount: Invalid value: 1: cannot be decremented`)

	s := statefulSet()
	s.Status = appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 1, AvailableReplicas: 2}
	expectErrors(t, ValidateStatusUpdate(s, statefulSet()),
		`status.availableReplicas: Invalid value: 2: cannot be greater than status.readyReplicas`)

	ds := daemonSet()
	ds.Status.NumberReady = -1
	expectErrors(t, ValidateStatusUpdate(ds, daemonSet()), `status.numberReady: Invalid value: -1: must be greater than or equal to 0`)
}
