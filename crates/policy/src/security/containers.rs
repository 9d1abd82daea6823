//! Uniform access to every container of a pod spec: containers, init and ephemeral ones.

use k8s_openapi::api::core::v1::{ContainerPort, PodSpec, SecurityContext};

/// One container of any of the three lists, read-only.
pub(crate) struct ContainerView<'a> {
    /// Which list: `containers`, `initContainers` or `ephemeralContainers`.
    pub list: &'static str,
    /// Position in that list.
    pub index: usize,
    pub name: &'a str,
    pub security: Option<&'a SecurityContext>,
    pub ports: &'a [ContainerPort],
}

/// Every container of the pod, in order: containers, initContainers, ephemeralContainers.
pub(crate) fn containers(spec: &PodSpec) -> Vec<ContainerView<'_>> {
    let mut all = Vec::new();
    for (i, c) in spec.containers.iter().enumerate() {
        all.push(ContainerView {
            list: "containers",
            index: i,
            name: &c.name,
            security: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or(&[]),
        });
    }
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        all.push(ContainerView {
            list: "initContainers",
            index: i,
            name: &c.name,
            security: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or(&[]),
        });
    }
    for (i, c) in spec.ephemeral_containers.iter().flatten().enumerate() {
        all.push(ContainerView {
            list: "ephemeralContainers",
            index: i,
            name: &c.name,
            security: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or(&[]),
        });
    }
    all
}

/// Calls `f` with the security context slot of every container of the pod.
pub(crate) fn for_each_security_mut(
    spec: &mut PodSpec,
    mut f: impl FnMut(&mut Option<SecurityContext>),
) {
    for c in &mut spec.containers {
        f(&mut c.security_context);
    }
    for c in spec.init_containers.iter_mut().flatten() {
        f(&mut c.security_context);
    }
    for c in spec.ephemeral_containers.iter_mut().flatten() {
        f(&mut c.security_context);
    }
}

impl ContainerView<'_> {
    /// Path below the pod spec, e.g. `initContainers[0]` (built only for messages).
    pub fn path(&self) -> String {
        format!("{}[{}]", self.list, self.index)
    }
}
