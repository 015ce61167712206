//! `images`: the registry and the pinned component images.

use crate::error::Problem;
use crate::formats;
use crate::model::*;
use crate::spec::*;

use super::check::Check;

impl Check<'_> {
    pub(super) fn images(&self, val: &Val<ImagesSpec>) -> Images {
        let i = val.get().cloned().unwrap_or_default();
        Images {
            registry: self
                .text(&i.registry, "images.registry", &formats::REGISTRY, true)
                .unwrap_or_default(),
            traefik: self.within(&i.traefik).image(
                &i.traefik,
                "images.traefik",
                "v3.",
                "a Traefik v3 release (the generated configuration is v3 syntax)",
            ),
            kured: self.within(&i.kured).image(
                &i.kured,
                "images.kured",
                "1.",
                "a Kured 1.x release (the generated flags are 1.x flags)",
            ),
            flotilla: self.within(&i.flotilla).image(
                &i.flotilla,
                "images.flotilla",
                "0.",
                "a flotilla 0.x release (the generated serve config is 0.x syntax)",
            ),
        }
    }

    /// One image; its tag must also be of the major release the generator
    /// writes configuration for.
    fn image(&self, val: &Val<ImageSpec>, field: &str, major: &str, release: &str) -> Image {
        let i = val.get().cloned().unwrap_or_default();
        let tag_field = format!("{field}.tag");
        let tag = self.text(&i.tag, &tag_field, &formats::TAG, true);
        if let (Some(tag), Val::Set(_, origin)) = (&tag, &i.tag)
            && !tag.starts_with(major)
        {
            self.report(
                *origin,
                &tag_field,
                Problem::Rule(format!("tag {tag:?} is not {release}")),
            );
        }
        Image {
            repository: self
                .text(
                    &i.repository,
                    &format!("{field}.repository"),
                    &formats::REPOSITORY,
                    true,
                )
                .unwrap_or_default(),
            tag: tag.unwrap_or_default(),
            digest: self.text(
                &i.digest,
                &format!("{field}.digest"),
                &formats::DIGEST,
                false,
            ),
        }
    }
}
