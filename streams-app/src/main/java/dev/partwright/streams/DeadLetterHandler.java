package dev.partwright.streams;

import dev.partwright.schemas.PayloadException;
import dev.partwright.schemas.SchemaRegistryException;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.apache.kafka.streams.errors.LogAndContinueProcessingExceptionHandler;
import org.apache.kafka.streams.processor.api.Record;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Kafka Streams' log-and-continue with the dead-letter topic, except for a schema registry that
 * does not answer: that is no fault of the record, so it is not dead-lettered; the task fails and
 * the record is read again once the stream thread is replaced (the registry's answers are cached,
 * so only a record naming a schema id not seen before needs the registry at all).
 */
public final class DeadLetterHandler extends LogAndContinueProcessingExceptionHandler {

  private static final Logger LOG = LoggerFactory.getLogger(DeadLetterHandler.class);

  @Override
  public Response handleError(ErrorHandlerContext context, Record<?, ?> record, Exception exception) {
    if (PayloadException.find(exception).isPresent()) {
      // a bad record, even when the registry said so (an unknown schema id is a 404 inside it)
      return super.handleError(context, record, exception);
    }
    for (Throwable t = exception; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof SchemaRegistryException registry) {
        LOG.error("schema registry unavailable at {}-{}@{}; failing the task so the record is read again: {}",
            context.topic(), context.partition(), context.offset(), registry.getMessage());
        return Response.fail();
      }
    }
    return super.handleError(context, record, exception);
  }
}
