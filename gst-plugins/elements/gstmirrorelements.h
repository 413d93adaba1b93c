// SPDX-License-Identifier: LGPL-2.1-or-later
// Every element of the mirrorlive plugin.
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

GST_ELEMENT_REGISTER_DECLARE (mirroringestbin);
GST_ELEMENT_REGISTER_DECLARE (mirrorheartbeat);
GST_ELEMENT_REGISTER_DECLARE (mirrortranscodebin);
GST_ELEMENT_REGISTER_DECLARE (mirroraudiobin);
GST_ELEMENT_REGISTER_DECLARE (mirrorcmafmux);
GST_ELEMENT_REGISTER_DECLARE (mirrorh3sink);

G_END_DECLS
