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
/// An iterator, not a Vec: this runs for every pod of every admitted job.
pub(crate) fn containers(spec: &PodSpec) -> impl Iterator<Item = ContainerView<'_>> {
    // `Container` and `EphemeralContainer` share these fields but no trait.
    macro_rules! views {
        ($list:literal, $items:expr) => {
            $items.enumerate().map(|(index, c)| ContainerView {
                list: $list,
                index,
                name: &c.name,
                security: c.security_context.as_ref(),
                ports: c.ports.as_deref().unwrap_or(&[]),
            })
        };
    }
    let main = views!("containers", spec.containers.iter());
    let init = views!("initContainers", spec.init_containers.iter().flatten());
    let ephemeral = views!(
        "ephemeralContainers",
        spec.ephemeral_containers.iter().flatten()
    );
    main.chain(init).chain(ephemeral)
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
