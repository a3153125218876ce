/* hrinpaint for GIMP 2.10: Filters > Enhance > Remove selection with hrinpaint.
 *
 * The active layer's pixels and the selection (pixels more than half selected are the hole) go to a private
 * temporary folder as PNG; the hrinpaint command-line tool fills the hole; its result comes back as a new layer
 * above the original, named "hrinpaint: <method>". The original layer is never changed. The tool's progress
 * lines ("hrinpaint-progress DONE TOTAL" on --progress-fd) drive GIMP's progress bar and its error lines go to
 * GIMP's message console.
 *
 * Build and install for the current user: make -C integrations/gimp install
 */

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <libgimp/gimp.h>
#include <libgimp/gimpui.h>
#include <png.h>

#define PROCEDURE "plug-in-hrinpaint"
#define BINARY "hrinpaint-gimp"
#define DEFAULT_WORKING_SIZE 512
#define INSTALL_HINT                                                                                     \
  "Install it with 'pip install --user hrinpaint' (or into a virtual environment), then give the full " \
  "path of its 'hrinpaint' program in this filter's dialog, or start GIMP with HRINPAINT=/path/to/hrinpaint."

/* The first is hrinpaint's measured default, shown when no method was chosen before. */
static const gchar *METHODS[] = {"patchmatch+octave", "patchmatch+cra", "telea+cra", "telea+upsample", "pyramid",
                                 "refine",            "shift",          "hifill",    NULL};

typedef struct
{
  gchar method[128];   /* empty: hrinpaint's default */
  gint  working_size;  /* long side of the working resolution; 0: the default */
  gint  grow;          /* pixels by which the hole is grown */
  gchar program[1024]; /* path of the hrinpaint program; empty: HRINPAINT, then PATH, then ~/.local/bin */
} Settings;

static Settings settings = {"", DEFAULT_WORKING_SIZE, 0, ""};

static void query (void);
static void run (const gchar *name, gint n_params, const GimpParam *param, gint *n_return_vals,
                 GimpParam **return_vals);

const GimpPlugInInfo PLUG_IN_INFO = {NULL, NULL, query, run};

MAIN ()

static void
query (void)
{
  static const GimpParamDef args[] = {
    {GIMP_PDB_INT32, "run-mode", "The run mode { RUN-INTERACTIVE (0), RUN-NONINTERACTIVE (1) }"},
    {GIMP_PDB_IMAGE, "image", "Input image"},
    {GIMP_PDB_DRAWABLE, "drawable", "Layer whose selected pixels are removed"},
    {GIMP_PDB_STRING, "method", "hrinpaint method, filler+lifter (\"\" for hrinpaint's default)"},
    {GIMP_PDB_INT32, "working-size", "Long side of the working resolution in pixels (0 for the default, 512)"},
    {GIMP_PDB_INT32, "grow", "Grow the hole by this many pixels (0 for none)"},
    {GIMP_PDB_STRING, "program", "Path of the hrinpaint program (\"\" to look on PATH)"},
  };

  gimp_install_procedure (PROCEDURE, "Remove the selected object with hrinpaint",
                          "Fills the selection (pixels more than half selected) of the active layer with the "
                          "hrinpaint command-line tool, at full resolution, and puts the result in a new layer "
                          "above it named 'hrinpaint: <method>'. The original layer is left unchanged.",
                          "hrinpaint contributors", "MIT", "2026", "Remove selection with _hrinpaint...",
                          "RGB*, GRAY*", GIMP_PLUGIN, G_N_ELEMENTS (args), 0, args, NULL);
  gimp_plugin_menu_register (PROCEDURE, "<Image>/Filters/Enhance");
}

/* --------------------------------------------------------------------------------------------- PNG files */

static gboolean
write_png (const gchar *path, const guchar *pixels, gint width, gint height, gint channels, gint bit_depth,
           GError **error)
{
  static const int colour_types[] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                     PNG_COLOR_TYPE_RGB_ALPHA};
  FILE       *file;
  png_structp png;
  png_infop   info;
  gsize       row_bytes = (gsize) width * channels * (bit_depth / 8);
  gint        y;

  file = g_fopen (path, "wb");
  if (!file)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot write %s: %s", path,
                   g_strerror (errno));
      return FALSE;
    }
  png = png_create_write_struct (PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  info = png ? png_create_info_struct (png) : NULL;
  if (!info || setjmp (png_jmpbuf (png)))
    {
      png_destroy_write_struct (&png, info ? &info : NULL);
      fclose (file);
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "cannot encode %s", path);
      return FALSE;
    }
  png_init_io (png, file);
  png_set_compression_level (png, 1); /* a temporary file: speed over size */
  png_set_IHDR (png, info, width, height, bit_depth, colour_types[channels], PNG_INTERLACE_NONE,
                PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info (png, info);
  if (bit_depth == 16 && G_BYTE_ORDER == G_LITTLE_ENDIAN)
    png_set_swap (png); /* PNG stores 16-bit samples big-endian */
  for (y = 0; y < height; y++)
    png_write_row (png, (png_const_bytep) (pixels + y * row_bytes));
  png_write_end (png, NULL);
  png_destroy_write_struct (&png, &info);
  if (fclose (file) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot write %s: %s", path,
                   g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

/* Reads `drawable`'s pixels in `format` into `out` (width x height pixels of the drawable). */
static void
read_pixels (gint32 drawable, const Babl *format, gpointer out)
{
  GeglBuffer *buffer = gimp_drawable_get_buffer (drawable);

  gegl_buffer_get (buffer, GEGL_RECTANGLE (0, 0, gimp_drawable_width (drawable), gimp_drawable_height (drawable)),
                   1.0, format, out, GEGL_AUTO_ROWSTRIDE, GEGL_ABYSS_NONE);
  g_object_unref (buffer);
}

/* The selection's coverage (0 to 1) of each pixel of `drawable`: the selection covers the canvas and the layer may
 * sit anywhere on it (outside the canvas: not selected). */
static void
read_coverage (gint32 image, gint32 drawable, gfloat *coverage)
{
  gint        offset_x, offset_y;
  GeglBuffer *buffer = gimp_drawable_get_buffer (gimp_image_get_selection (image));

  gimp_drawable_offsets (drawable, &offset_x, &offset_y);
  gegl_buffer_get (buffer,
                   GEGL_RECTANGLE (offset_x, offset_y, gimp_drawable_width (drawable), gimp_drawable_height (drawable)),
                   1.0, babl_format ("Y float"), coverage, GEGL_AUTO_ROWSTRIDE, GEGL_ABYSS_NONE);
  g_object_unref (buffer);
}

/* Writes the layer's pixels (8-bit, or 16-bit for deeper images) and the selection over the layer as a mask
 * (255 = hole where the selection is above one half). Returns the number of hole pixels, or -1 on error. */
static gint64
write_inputs (gint32 image, gint32 drawable, const gchar *image_path, const gchar *mask_path, GError **error)
{
  gint        width = gimp_drawable_width (drawable), height = gimp_drawable_height (drawable);
  gboolean    alpha = gimp_drawable_has_alpha (drawable);
  gboolean    deep = gimp_image_get_precision (image) != GIMP_PRECISION_U8_GAMMA &&
                  gimp_image_get_precision (image) != GIMP_PRECISION_U8_LINEAR;
  gint        channels = alpha ? 4 : 3, bit_depth = deep ? 16 : 8;
  const Babl *format = babl_format (deep ? (alpha ? "R'G'B'A u16" : "R'G'B' u16")
                                         : (alpha ? "R'G'B'A u8" : "R'G'B' u8"));
  guchar     *pixels, *mask;
  gfloat     *coverage;
  gint64      hole = 0, index, count = (gint64) width * height;
  gboolean    written;

  pixels = g_try_malloc ((gsize) count * channels * (bit_depth / 8));
  coverage = g_try_malloc ((gsize) count * sizeof (gfloat));
  mask = g_try_malloc ((gsize) count);
  if (!pixels || !coverage || !mask)
    {
      g_free (pixels), g_free (coverage), g_free (mask);
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOMEM, "not enough memory for a %dx%d layer", width, height);
      return -1;
    }
  read_pixels (drawable, format, pixels);
  read_coverage (image, drawable, coverage);
  for (index = 0; index < count; index++)
    {
      mask[index] = coverage[index] > 0.5f ? 255 : 0;
      hole += mask[index] != 0;
    }
  written = hole > 0 && write_png (image_path, pixels, width, height, channels, bit_depth, error) &&
            write_png (mask_path, mask, width, height, 1, 8, error);
  g_free (pixels), g_free (coverage), g_free (mask);
  if (hole == 0)
    return 0;
  return written ? hole : -1;
}

/* ------------------------------------------------------------------------------------------ the program */

/* The hrinpaint program: the setting, then $HRINPAINT, then PATH, then pip's --user folder. NULL if none. */
static gchar *
find_program (void)
{
  const gchar *from_environment = g_getenv ("HRINPAINT");
  gchar       *user_install;

  if (settings.program[0])
    return g_file_test (settings.program, G_FILE_TEST_IS_EXECUTABLE) ? g_strdup (settings.program) : NULL;
  if (from_environment && *from_environment)
    return g_file_test (from_environment, G_FILE_TEST_IS_EXECUTABLE) ? g_strdup (from_environment) : NULL;
  if ((user_install = g_find_program_in_path ("hrinpaint")))
    return user_install;
  user_install = g_build_filename (g_get_home_dir (), ".local", "bin", "hrinpaint", NULL);
  if (g_file_test (user_install, G_FILE_TEST_IS_EXECUTABLE))
    return user_install;
  g_free (user_install);
  return NULL;
}

/* Handles one line of the program's progress output: "hrinpaint-progress DONE TOTAL" or "hrinpaint-method NAME". */
static void
progress_line (const gchar *line, GString *method)
{
  gint done, total;

  if (sscanf (line, "hrinpaint-progress %d %d", &done, &total) == 2 && total > 0)
    gimp_progress_update (0.05 + 0.9 * done / total); /* reading and writing take the rest */
  else if (g_str_has_prefix (line, "hrinpaint-method "))
    g_string_assign (method, line + strlen ("hrinpaint-method "));
}

/* Reads complete lines from a pipe into `pending` and hands each to progress_line (stdout) or keeps it
 * (stderr). Returns FALSE at end of file. */
static gboolean
drain (gint fd, GString *pending, GString *method, gboolean is_progress)
{
  gchar   chunk[4096];
  gssize  got = read (fd, chunk, sizeof chunk);
  gchar  *newline;

  if (got < 0 && errno == EINTR)
    return TRUE;
  if (got <= 0)
    return FALSE;
  if (!is_progress)
    {
      g_string_append_len (pending, chunk, got);
      return TRUE;
    }
  g_string_append_len (pending, chunk, got);
  while ((newline = strchr (pending->str, '\n')))
    {
      *newline = '\0';
      progress_line (pending->str, method);
      g_string_erase (pending, 0, newline - pending->str + 1);
    }
  return TRUE;
}

/* Runs hrinpaint; on failure sets `error` to what it printed. `method` receives the method it used. */
static gboolean
run_hrinpaint (const gchar *program, const gchar *image_path, const gchar *mask_path, const gchar *output_path,
               GString *method, GError **error)
{
  GPtrArray    *argv = g_ptr_array_new_with_free_func (g_free);
  GPid          child;
  gint          out_fd, err_fd, status;
  GString      *out_pending = g_string_new (NULL), *errors = g_string_new (NULL);
  struct pollfd fds[2];
  gboolean      out_open = TRUE, err_open = TRUE, spawned;

  g_ptr_array_add (argv, g_strdup (program));
  g_ptr_array_add (argv, g_strdup ("inpaint"));
  g_ptr_array_add (argv, g_strdup (image_path));
  g_ptr_array_add (argv, g_strdup (mask_path));
  g_ptr_array_add (argv, g_strdup ("-o"));
  g_ptr_array_add (argv, g_strdup (output_path));
  g_ptr_array_add (argv, g_strdup ("--quiet"));
  g_ptr_array_add (argv, g_strdup ("--progress-fd"));
  g_ptr_array_add (argv, g_strdup ("1"));
  if (settings.method[0])
    {
      g_ptr_array_add (argv, g_strdup ("--method"));
      g_ptr_array_add (argv, g_strdup (settings.method));
    }
  if (settings.working_size > 0)
    g_ptr_array_add (argv, g_strdup_printf ("--working-size=%d", settings.working_size));
  if (settings.grow > 0)
    g_ptr_array_add (argv, g_strdup_printf ("--grow=%d", settings.grow));
  g_ptr_array_add (argv, NULL);

  spawned = g_spawn_async_with_pipes (NULL, (gchar **) argv->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                      &child, NULL, &out_fd, &err_fd, error);
  g_ptr_array_free (argv, TRUE);
  if (!spawned)
    {
      g_string_free (out_pending, TRUE), g_string_free (errors, TRUE);
      return FALSE;
    }
  while (out_open || err_open)
    {
      fds[0] = (struct pollfd){out_open ? out_fd : -1, POLLIN, 0};
      fds[1] = (struct pollfd){err_open ? err_fd : -1, POLLIN, 0};
      if (poll (fds, 2, -1) < 0 && errno != EINTR)
        break;
      if (out_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
        out_open = drain (out_fd, out_pending, method, TRUE);
      if (err_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
        err_open = drain (err_fd, errors, method, FALSE);
    }
  close (out_fd), close (err_fd);
  while (waitpid (child, &status, 0) < 0 && errno == EINTR)
    ;
  g_spawn_close_pid (child);
  g_string_free (out_pending, TRUE);
  if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
    {
      g_string_free (errors, TRUE);
      return TRUE;
    }
  g_strstrip (errors->str);
  if (!errors->str[0])
    g_string_printf (errors, "%s stopped (status %d) without a message", program, status);
  g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED, "%s", errors->str);
  g_string_free (errors, TRUE);
  return FALSE;
}

/* ---------------------------------------------------------------------------------------------- dialog */

static gboolean
show_dialog (void)
{
  GtkWidget *dialog, *table, *method, *working_size, *grow, *program, *note;
  gint       row = 0;
  gboolean   accepted;
  const gchar **name;

  gimp_ui_init (BINARY, FALSE);
  dialog = gimp_dialog_new ("Remove selection with hrinpaint", BINARY, NULL, 0, gimp_standard_help_func,
                            PROCEDURE, "_Cancel", GTK_RESPONSE_CANCEL, "_OK", GTK_RESPONSE_OK, NULL);
  gimp_window_set_transient (GTK_WINDOW (dialog));

  table = gtk_table_new (4, 2, FALSE);
  gtk_table_set_row_spacings (GTK_TABLE (table), 6);
  gtk_table_set_col_spacings (GTK_TABLE (table), 6);
  gtk_container_set_border_width (GTK_CONTAINER (table), 12);
  gtk_box_pack_start (GTK_BOX (gtk_dialog_get_content_area (GTK_DIALOG (dialog))), table, TRUE, TRUE, 0);

  method = gtk_combo_box_text_new_with_entry (); /* the usual methods, and any other name may be typed */
  for (name = METHODS; *name; name++)
    gtk_combo_box_text_append_text (GTK_COMBO_BOX_TEXT (method), *name);
  gtk_entry_set_text (GTK_ENTRY (gtk_bin_get_child (GTK_BIN (method))),
                      settings.method[0] ? settings.method : METHODS[0]);
  gimp_table_attach_aligned (GTK_TABLE (table), 0, row++, "_Method:", 0.0, 0.5, method, 1, FALSE);

  working_size = gtk_spin_button_new_with_range (64, 8192, 64);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (working_size),
                             settings.working_size > 0 ? settings.working_size : DEFAULT_WORKING_SIZE);
  gimp_table_attach_aligned (GTK_TABLE (table), 0, row++, "_Working size (px):", 0.0, 0.5, working_size, 1, TRUE);

  grow = gtk_spin_button_new_with_range (0, 500, 1);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (grow), settings.grow);
  gimp_table_attach_aligned (GTK_TABLE (table), 0, row++, "_Grow selection (px):", 0.0, 0.5, grow, 1, TRUE);

  program = gtk_entry_new ();
  gtk_entry_set_text (GTK_ENTRY (program), settings.program);
  gimp_table_attach_aligned (GTK_TABLE (table), 0, row++, "hrinpaint _program:", 0.0, 0.5, program, 1, FALSE);

  note = gtk_label_new ("Program: leave empty to use $HRINPAINT, else 'hrinpaint' on PATH or in ~/.local/bin.\n"
                        "The selection is the hole (pixels more than half selected).\n"
                        "The result goes to a new layer above this one; this layer is not changed.");
  gtk_misc_set_alignment (GTK_MISC (note), 0.0, 0.5);
  gtk_table_attach (GTK_TABLE (table), note, 0, 2, row, row + 1, GTK_FILL, GTK_FILL, 0, 6);

  gtk_widget_show_all (dialog);
  accepted = gimp_dialog_run (GIMP_DIALOG (dialog)) == GTK_RESPONSE_OK;
  if (accepted)
    {
      g_strlcpy (settings.method, gtk_entry_get_text (GTK_ENTRY (gtk_bin_get_child (GTK_BIN (method)))),
                 sizeof settings.method);
      g_strstrip (settings.method);
      settings.working_size = gtk_spin_button_get_value_as_int (GTK_SPIN_BUTTON (working_size));
      settings.grow = gtk_spin_button_get_value_as_int (GTK_SPIN_BUTTON (grow));
      g_strlcpy (settings.program, gtk_entry_get_text (GTK_ENTRY (program)), sizeof settings.program);
      g_strstrip (settings.program);
    }
  gtk_widget_destroy (dialog);
  return accepted;
}

/* ------------------------------------------------------------------------------------------------- run */

static void
remove_folder (const gchar *folder)
{
  const gchar *names[] = {"image.png", "mask.png", "result.png"};
  gsize        index;

  for (index = 0; index < G_N_ELEMENTS (names); index++)
    {
      gchar *path = g_build_filename (folder, names[index], NULL);
      g_remove (path);
      g_free (path);
    }
  g_rmdir (folder);
}

/* A copy of `drawable` (its own precision and format) with the hole pixels taken from `result`, which is then
 * deleted: every pixel outside the hole stays bit-exact even where the round trip through the program's 8 or 16 bit
 * files cannot hold the image's precision (float or linear images). Returns -1 with `error` set on failure. */
static gint32
merge_hole (gint32 image, gint32 drawable, gint32 result, GError **error)
{
  gint        width = gimp_drawable_width (drawable), height = gimp_drawable_height (drawable), bpp;
  gint64      index, count = (gint64) width * height;
  gint32      merged = gimp_layer_copy (drawable);
  const Babl *format = gimp_drawable_get_format (merged);
  guchar     *original, *filled;
  gfloat     *coverage;
  GeglBuffer *buffer;

  bpp = babl_format_get_bytes_per_pixel (format);
  original = g_try_malloc ((gsize) count * bpp);
  filled = g_try_malloc ((gsize) count * bpp);
  coverage = g_try_malloc ((gsize) count * sizeof (gfloat));
  if (!original || !filled || !coverage)
    {
      g_free (original), g_free (filled), g_free (coverage);
      gimp_item_delete (merged);
      gimp_item_delete (result);
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOMEM, "not enough memory for a %dx%d layer", width, height);
      return -1;
    }
  read_pixels (result, format, filled);
  read_coverage (image, drawable, coverage);
  read_pixels (merged, format, original);
  buffer = gimp_drawable_get_buffer (merged);
  for (index = 0; index < count; index++)
    if (coverage[index] > 0.5f) /* the same rule as the mask written for the program */
      memcpy (original + index * bpp, filled + index * bpp, bpp);
  gegl_buffer_set (buffer, GEGL_RECTANGLE (0, 0, width, height), 0, format, original, GEGL_AUTO_ROWSTRIDE);
  gegl_buffer_flush (buffer);
  g_object_unref (buffer);
  g_free (original), g_free (filled), g_free (coverage);
  gimp_item_delete (result);
  return merged;
}

/* Fills the selection of `drawable` into a new layer above it. Returns the new layer, or -1 with `error` set. */
static gint32
remove_selection (gint32 image, gint32 drawable, GError **error)
{
  gchar  *program = NULL, *folder, *image_path, *mask_path, *output_path, *layer_name;
  GString *method = g_string_new (settings.method);
  gint32  layer = -1;
  gint    offset_x, offset_y;
  gint64  hole;

  if (!gimp_item_is_layer (drawable))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "hrinpaint works on a layer, not a mask or channel");
      return -1;
    }
  if (gimp_selection_is_empty (image))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "select the part of the layer to remove first");
      return -1;
    }
  if (!(program = find_program ()))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "the hrinpaint program was not found%s%s. %s",
                   settings.program[0] ? " at " : "", settings.program, INSTALL_HINT);
      return -1;
    }
  folder = g_dir_make_tmp ("hrinpaint-XXXXXX", error); /* private: mode 0700 */
  if (!folder)
    {
      g_free (program);
      return -1;
    }
  image_path = g_build_filename (folder, "image.png", NULL);
  mask_path = g_build_filename (folder, "mask.png", NULL);
  output_path = g_build_filename (folder, "result.png", NULL);

  gimp_progress_init ("Removing the selection with hrinpaint");
  hole = write_inputs (image, drawable, image_path, mask_path, error);
  if (hole == 0)
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "no pixel of this layer is more than half selected");
  if (hole > 0 && run_hrinpaint (program, image_path, mask_path, output_path, method, error))
    {
      layer = gimp_file_load_layer (GIMP_RUN_NONINTERACTIVE, image, output_path);
      if (layer < 0)
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "GIMP could not load hrinpaint's result");
      else
        layer = merge_hole (image, drawable, layer, error);
    }
  if (layer >= 0)
    {
      gimp_image_undo_group_start (image);
      layer_name = g_strdup_printf ("hrinpaint: %s", method->len ? method->str : "default");
      gimp_item_set_name (layer, layer_name);
      g_free (layer_name);
      gimp_drawable_offsets (drawable, &offset_x, &offset_y);
      gimp_image_insert_layer (image, layer, gimp_item_get_parent (drawable),
                               gimp_image_get_item_position (image, drawable));
      gimp_layer_set_offsets (layer, offset_x, offset_y);
      gimp_image_set_active_layer (image, layer);
      gimp_image_undo_group_end (image);
      gimp_progress_update (1.0);
    }
  remove_folder (folder);
  g_free (image_path), g_free (mask_path), g_free (output_path), g_free (folder), g_free (program);
  g_string_free (method, TRUE);
  return layer;
}

static void
run (const gchar *name, gint n_params, const GimpParam *param, gint *n_return_vals, GimpParam **return_vals)
{
  static GimpParam  values[2];
  GimpRunMode       run_mode = param[0].data.d_int32;
  gint32            image = param[1].data.d_image, drawable = param[2].data.d_drawable;
  GimpPDBStatusType status = GIMP_PDB_SUCCESS;
  GError           *error = NULL;

  gegl_init (NULL, NULL);
  *n_return_vals = 1;
  *return_vals = values;
  values[0].type = GIMP_PDB_STATUS;

  switch (run_mode)
    {
    case GIMP_RUN_INTERACTIVE:
      gimp_get_data (PROCEDURE, &settings);
      if (!show_dialog ())
        status = GIMP_PDB_CANCEL;
      break;
    case GIMP_RUN_NONINTERACTIVE:
      if (n_params != 7)
        {
          status = GIMP_PDB_CALLING_ERROR;
          break;
        }
      g_strlcpy (settings.method, param[3].data.d_string ? param[3].data.d_string : "", sizeof settings.method);
      settings.working_size = param[4].data.d_int32;
      settings.grow = MAX (0, param[5].data.d_int32);
      g_strlcpy (settings.program, param[6].data.d_string ? param[6].data.d_string : "", sizeof settings.program);
      break;
    case GIMP_RUN_WITH_LAST_VALS:
      gimp_get_data (PROCEDURE, &settings);
      break;
    }

  if (status == GIMP_PDB_SUCCESS)
    {
      if (remove_selection (image, drawable, &error) < 0)
        {
          /* GIMP shows a returned error message in its message console (stderr in batch mode) and hands it to
           * a calling script; a gimp_message() as well would show it twice */
          status = GIMP_PDB_EXECUTION_ERROR;
          *n_return_vals = 2;
          values[1].type = GIMP_PDB_STRING;
          values[1].data.d_string = error->message;
        }
      else
        {
          if (run_mode != GIMP_RUN_NONINTERACTIVE)
            gimp_displays_flush ();
          if (run_mode == GIMP_RUN_INTERACTIVE)
            gimp_set_data (PROCEDURE, &settings, sizeof settings);
        }
    }
  values[0].data.d_status = status;
}
