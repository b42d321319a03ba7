--- Spanish messages of kiva.i18n (English pattern → Spanish pattern, same %-items in order).
return {
  -- summary
  ["%s: read %d, valid %d, invalid %d, sent %d, skipped %d, rejected %d, unknown %d"] =
    "%s: leídos %d, válidos %d, inválidos %d, enviados %d, ya enviados %d, rechazados %d, resultado desconocido %d",
  [" (dry run)"] = " (simulación)",
  [" for %s"] = " de %s",
  ["  %d row(s) left out by the mapping (it returned nil)"] = "  %d fila(s) omitida(s) por el mapeo (devolvió nil)",
  ["  %d valid item(s) carry warnings (see the report)"] =
    "  %d elemento(s) válido(s) con advertencias (ver el informe)",
  ["Warning: %s"] = "Advertencia: %s",
  ["  %d changed since sent (not resent; --resend-changed resends them)"] =
    "  %d modificado(s) desde el envío (no reenviado(s); --resend-changed los reenvía)",
  ["  %d not sent this run (they will be sent by the next run)"] =
    "  %d no enviado(s) esta vez (la próxima ejecución los enviará)",
  ["Invalid (fix the export or the mapping):"] = "Inválidos (corrija la exportación o el mapeo):",
  ["Rejected by Kiva:"] = "Rechazados por Kiva:",
  ["Outcome unknown (check PA2, then `kiva ledger resolve KEY sent|unsent`):"] =
    "Resultado desconocido (verifique en PA2 y luego `kiva ledger resolve CLAVE sent|unsent`):",
  ["With warnings (what PA2 needs before publishing, or what looks wrong but may be right):"] =
    "Con advertencias (lo que PA2 pedirá antes de publicar, o lo que parece incorrecto pero puede ser correcto):",
  ["Changed since sent:"] = "Modificados desde el envío:",
  ["Not sent:"] = "No enviados:",
  ["  ... and %d more (all of them in %s)"] = "  ... y %d más (todos en %s)",
  ["  ... and %d more (run again with --problems FILE.xlsx to list them all)"] =
    "  ... y %d más (ejecute de nuevo con --problems ARCHIVO.xlsx para verlos todos)",
  ["A previous run was interrupted; %d item(s) are now of unknown outcome."] =
    "Una ejecución anterior se interrumpió; %d elemento(s) tienen ahora resultado desconocido.",
  ["Journals to confirm:"] = "Diarios por confirmar:",
  ["Payloads written: %d file(s) under %s"] = "Solicitudes escritas: %d archivo(s) en %s",
  ["Stopped: %s"] = "Detenido: %s",
  ["Next: %s"] = "Siguiente paso: %s",
  ["Review the new drafts in PA2 (Loans > Drafts) and publish them."] =
    "Revise los nuevos borradores en PA2 (Loans > Drafts) y publíquelos.",
  ["Ask the Kiva coordinator to review and finalise the repayment upload in PA2."] =
    "Pida al coordinador de Kiva que revise y finalice el envío de pagos en PA2.",
  ["Open each confirm_url above to publish the journal."] =
    "Abra cada confirm_url de arriba para publicar el diario.",
  -- run log
  ["== kiva %s: %s, started %s"] = "== kiva %s: %s, iniciado el %s",
  ["Target: %s, %s, partner %s; ledger %s"] = "Destino: %s, %s, socio %s; registro %s",
  ["Repayment uploads of this run (one per batch):"] = "Envíos de pagos de esta ejecución (uno por lote):",
  ["  batch %s: upload %s, %d repayment(s): %s"] = "  lote %s: envío %s, %d pago(s): %s",
  ["  batch %s: %d repayment(s), no upload id: %s"] = "  lote %s: %d pago(s), sin número de envío: %s",
  ["    Kiva said: %s"] = "    Respuesta de Kiva: %s",
  ["received by Kiva; the coordinator reviews and finalises it in PA2"] =
    "recibido por Kiva; el coordinador lo revisa y lo finaliza en PA2",
  ["received by Kiva, some lines refused (listed above); finalise it in PA2"] =
    "recibido por Kiva, algunas líneas rechazadas (ver arriba); finalícelo en PA2",
  ["refused by Kiva as a whole; nothing of it was recorded (reasons above)"] =
    "rechazado entero por Kiva; no se registró nada (motivos arriba)",
  ["outcome unknown: the request went out but no answer came back, so Kiva may or may not have recorded it. "
    .. "Look in PA2 for an upload of this period with these loans, then run `kiva ledger resolve KEY sent` "
    .. "(found) or `unsent` (not found) for its items"] =
    "resultado desconocido: la solicitud salió pero no llegó respuesta; Kiva puede haberla registrado o no. "
    .. "Busque en PA2 un envío de este período con estos préstamos y luego ejecute `kiva ledger resolve CLAVE sent` "
    .. "(encontrado) o `unsent` (no encontrado) para sus elementos",
  ["not sent (nothing left this machine); the next run sends it"] =
    "no enviado (nada salió de esta máquina); la próxima ejecución lo enviará",
  ["%d loan draft(s) created: find them in PA2 under Loans > Drafts (search by internal loan id)."] =
    "%d borrador(es) de préstamo creado(s): en PA2, Loans > Drafts (busque por identificador interno del préstamo).",
  ["Written: %s"] = "Escritos: %s",
  ["report %s"] = "informe %s",
  ["problems %s"] = "problemas %s",
  ["== finished %s after %s, exit %d: %s"] = "== terminado el %s tras %s, código de salida %d: %s",
  ["all done"] = "todo hecho",
  ["needs attention (see above)"] = "requiere atención (ver arriba)",
  -- progress
  ["reading%s"] = "lectura%s",
  ["sending%s"] = "envío%s",
  ["%d rows"] = "%d filas",
  ["%d valid"] = "%d válidos",
  ["%d invalid"] = "%d inválidos",
  ["%d rejected"] = "%d rechazados",
  ["%d unknown"] = "%d desconocidos",
  ["%d retries"] = "%d reintentos",
  ["%.1f items/s"] = "%.1f elementos/s",
  ["ETA %s"] = "fin en %s",
  -- what to do after an error
  ["The client id or secret was refused: check KIVA_CLIENT_ID and KIVA_CLIENT_SECRET (or --credentials)."] =
    "Se rechazó el identificador o el secreto del cliente: verifique KIVA_CLIENT_ID y KIVA_CLIENT_SECRET "
    .. "(o --credentials).",
  ["These credentials lack the permission for this call: ask Kiva to add the scope."] =
    "Estas credenciales no tienen permiso para esta llamada: pida a Kiva que agregue el scope.",
  ["Check the settings named above (kiva COMMAND --help, README: Configuration)."] =
    "Verifique el ajuste indicado arriba (kiva COMANDO --help, README: Configuration).",
  ["Check the file named above."] = "Verifique el archivo indicado arriba.",
  ["Kiva could not be reached or is busy: run the same command again later; nothing is sent twice."] =
    "Kiva no responde o está saturado: ejecute el mismo comando más tarde; nada se envía dos veces.",
  ["Another kiva run holds the ledger: let it finish, or wait longer with --lock-wait."] =
    "Otra ejecución de kiva tiene el registro: deje que termine, o espere más con --lock-wait.",
}
